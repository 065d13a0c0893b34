output "sns_topic_arn" {
  description = "Topic every alarm notifies."
  value       = module.monitoring.sns_topic_arn
}

output "alarm_names" {
  description = "Every alarm of the example."
  value       = module.monitoring.alarm_names
}
