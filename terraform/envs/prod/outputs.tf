output "dbops_targets" {
  description = "Targets dbops acts on, as KIND:NAME."
  value       = module.estate.dbops_targets
}

output "dbops_target_details" {
  description = "What dbops needs to know of each target (never a secret value)."
  value       = module.estate.dbops_target_details
}

output "estate" {
  description = "Names and ARNs of the estate's shared resources."
  value = {
    kms_key_arn         = module.estate.kms_key_arn
    aurora_instance_ids = module.estate.aurora_instance_ids
    backup_vault_name   = module.estate.backup_vault_name
    backup_plan_id      = module.estate.backup_plan_id
    backup_selection_id = module.estate.backup_selection_id
    budget_name         = module.estate.budget_name
    sns_topic_arn       = module.estate.sns_topic_arn
    alarm_names         = module.estate.alarm_names
  }
}

output "lake" {
  description = "The analytics lake: bucket, Glue database, Athena workgroup, its key, its locations and the export's IAM policy document."
  value       = module.estate.lake
}
