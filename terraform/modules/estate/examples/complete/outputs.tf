output "dbops_targets" {
  description = "Targets dbops acts on, as KIND:NAME."
  value       = module.estate.dbops_targets
}

output "kms_key_arn" {
  description = "The estate's CMK."
  value       = module.estate.kms_key_arn
}

output "sns_topic_arn" {
  description = "The alarm topic."
  value       = module.estate.sns_topic_arn
}

output "alarm_names" {
  description = "Every alarm of the estate."
  value       = module.estate.alarm_names
}
