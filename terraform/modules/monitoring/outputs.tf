output "sns_topic_arn" {
  description = "Topic every alarm notifies."
  value       = aws_sns_topic.this.arn
}

output "publisher_service_principals" {
  description = "Services allowed to publish to the topic; the topic key must let each of them use it."
  value       = var.publisher_service_principals
}

output "alarm_names" {
  description = "Names of every alarm of the module."
  value = concat(
    [for a in aws_cloudwatch_metric_alarm.replica_lag : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.writer_cpu : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.freeable_memory : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.connections : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.free_local_storage : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.dynamodb_throttles : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.dynamodb_system_errors : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.backup_failed : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.weekly_drill_failed : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.weekly_drill_missing : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.weekly_drill_inconclusive : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.rule_failed_invocations : a.alarm_name],
  )
}
