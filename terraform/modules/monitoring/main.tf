data "aws_partition" "current" {}

locals {
  actions = [aws_sns_topic.this.arn]

  # One alarm per (table, event): throttled reads and writes.
  table_throttles = {
    for pair in setproduct(var.dynamodb_table_names, ["ReadThrottleEvents", "WriteThrottleEvents"]) :
    "${pair[0]}-${pair[1]}" => { table = pair[0], metric = pair[1] }
  }
  dynamodb_operations = ["GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchWriteItem", "BatchGetItem"]

  # Filter policy of the email subscriptions. AWS Backup reports the end of every job as
  # BACKUP_JOB_COMPLETED / RESTORE_JOB_COMPLETED with a State message attribute (COMPLETED,
  # FAILED, ABORTED, EXPIRED, PARTIAL). Subscribers get every message without a State
  # attribute (alarms, budgets) and every job that did not complete, never the daily
  # successes; a filter on State alone would drop the alarms.
  drop_completed_jobs = {
    "$or" = [
      { State = [{ exists = false }] },
      { State = [{ "anything-but" = ["COMPLETED"] }] },
    ]
  }
}

resource "aws_sns_topic" "this" {
  name              = var.name
  kms_master_key_id = var.kms_key_arn
  tags              = var.tags
}

# The topic is encrypted with a customer managed key: every service listed here must also
# be granted kms:GenerateDataKey* and kms:Decrypt in that key's policy (module kms,
# sns_publisher_principals), or its notifications are dropped.
resource "aws_sns_topic_policy" "this" {
  arn = aws_sns_topic.this.arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AwsServicesPublish"
      Effect    = "Allow"
      Principal = { Service = var.publisher_service_principals }
      Action    = "sns:Publish"
      Resource  = aws_sns_topic.this.arn
      Condition = { StringEquals = { "aws:SourceAccount" = var.account_id } }
    }]
  })
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.email_addresses)

  topic_arn     = aws_sns_topic.this.arn
  protocol      = "email"
  endpoint      = each.value
  filter_policy = jsonencode(local.drop_completed_jobs)
}

resource "aws_cloudwatch_metric_alarm" "replica_lag" {
  for_each = toset(var.aurora_reader_instance_ids)

  alarm_name          = "${var.name}-${each.value}-replica-lag"
  alarm_description   = "Aurora replica ${each.value} lags its writer by more than ${var.replica_lag_ms} ms"
  namespace           = "AWS/RDS"
  metric_name         = "AuroraReplicaLag"
  dimensions          = { DBInstanceIdentifier = each.value }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  threshold           = var.replica_lag_ms
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "writer_cpu" {
  for_each = toset(var.aurora_cluster_ids)

  alarm_name          = "${var.name}-${each.value}-writer-cpu"
  alarm_description   = "Writer of ${each.value} above ${var.cpu_percent}% CPU for 10 minutes"
  namespace           = "AWS/RDS"
  metric_name         = "CPUUtilization"
  dimensions          = { DBClusterIdentifier = each.value, Role = "WRITER" }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 2
  threshold           = var.cpu_percent
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "freeable_memory" {
  for_each = toset(var.aurora_cluster_ids)

  alarm_name          = "${var.name}-${each.value}-freeable-memory"
  alarm_description   = "Writer of ${each.value} has less than ${var.freeable_memory_mib} MiB freeable memory"
  namespace           = "AWS/RDS"
  metric_name         = "FreeableMemory"
  dimensions          = { DBClusterIdentifier = each.value, Role = "WRITER" }
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 2
  threshold           = var.freeable_memory_mib * 1048576
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "connections" {
  for_each = toset(var.aurora_cluster_ids)

  alarm_name          = "${var.name}-${each.value}-connections"
  alarm_description   = "${each.value} has more than ${var.max_connections} connections"
  namespace           = "AWS/RDS"
  metric_name         = "DatabaseConnections"
  dimensions          = { DBClusterIdentifier = each.value }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 2
  threshold           = var.max_connections
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "free_local_storage" {
  for_each = toset(var.aurora_cluster_ids)

  alarm_name          = "${var.name}-${each.value}-free-local-storage"
  alarm_description   = "${each.value} has less than ${var.free_local_storage_gib} GiB local storage left"
  namespace           = "AWS/RDS"
  metric_name         = "FreeLocalStorage"
  dimensions          = { DBClusterIdentifier = each.value }
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 2
  threshold           = var.free_local_storage_gib * 1073741824
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "dynamodb_throttles" {
  for_each = local.table_throttles

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = "${each.value.metric} on table ${each.value.table}"
  namespace           = "AWS/DynamoDB"
  metric_name         = each.value.metric
  dimensions          = { TableName = each.value.table }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 5
  threshold           = var.throttle_events
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "dynamodb_system_errors" {
  for_each = toset(var.dynamodb_table_names)

  alarm_name          = "${var.name}-${each.value}-system-errors"
  alarm_description   = "DynamoDB returned system errors (HTTP 500) on table ${each.value}"
  evaluation_periods  = 5
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags

  metric_query {
    id          = "errors"
    expression  = join("+", [for i, op in local.dynamodb_operations : "FILL(op${i},0)"])
    label       = "SystemErrors"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = local.dynamodb_operations
    content {
      id = "op${metric_query.key}"
      metric {
        namespace   = "AWS/DynamoDB"
        metric_name = "SystemErrors"
        dimensions  = { TableName = each.value, Operation = metric_query.value }
        period      = 60
        stat        = "Sum"
      }
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "backup_failed" {
  count = var.backup_vault_name == null ? 0 : 1

  alarm_name          = "${var.name}-backup-jobs-failed"
  alarm_description   = "AWS Backup jobs failed in vault ${coalesce(var.backup_vault_name, "-")}"
  namespace           = "AWS/Backup"
  metric_name         = "NumberOfBackupJobsFailed"
  dimensions          = { BackupVaultName = coalesce(var.backup_vault_name, "-") }
  statistic           = "Sum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "weekly_drill_failed" {
  count = var.drill_env == null ? 0 : 1

  alarm_name          = "${var.name}-weekly-drill"
  alarm_description   = "A dbops drill or check of env ${coalesce(var.drill_env, "-")} failed (dbops --publish-metrics)"
  namespace           = "dbops"
  metric_name         = "DrillFailed"
  dimensions          = { Env = coalesce(var.drill_env, "-") }
  statistic           = "Maximum"
  period              = 86400
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "weekly_drill_missing" {
  # One alarm per kind of drill: a week of concluded restores does not hide a week without a
  # concluded failover. Only runs that reached a verdict (pass or fail) count.
  for_each = var.drill_env == null ? toset([]) : toset(var.drill_kinds)

  alarm_name          = "${var.name}-weekly-${each.key}-drill-missing"
  alarm_description   = "No dbops ${each.key} drill of env ${coalesce(var.drill_env, "-")} reached a verdict for 7 days"
  namespace           = "dbops"
  metric_name         = "DrillRuns"
  dimensions          = { Env = coalesce(var.drill_env, "-"), Kind = each.key }
  statistic           = "Sum"
  period              = 86400
  evaluation_periods  = 7
  datapoints_to_alarm = 7
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "weekly_drill_inconclusive" {
  count = var.drill_env == null ? 0 : 1

  alarm_name          = "${var.name}-weekly-drill-inconclusive"
  alarm_description   = "A dbops drill or check of env ${coalesce(var.drill_env, "-")} ran but could not measure an objective"
  namespace           = "dbops"
  metric_name         = "DrillInconclusive"
  dimensions          = { Env = coalesce(var.drill_env, "-") }
  statistic           = "Maximum"
  period              = 86400
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

# A rule that could not start its target (RunTask refused: a role, a subnet, a task definition
# gone) runs nothing, so nothing publishes DrillFailed: its own metric is the only trace.
resource "aws_cloudwatch_metric_alarm" "rule_failed_invocations" {
  for_each = toset(var.event_rule_names)

  alarm_name          = "${var.name}-${each.value}-failed-invocations"
  alarm_description   = "EventBridge rule ${each.value} failed to start its dbops task"
  namespace           = "AWS/Events"
  metric_name         = "FailedInvocations"
  dimensions          = { RuleName = each.value }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}
