output "dbops_targets" {
  description = "Targets dbops acts on, as KIND:NAME."
  value       = local.dbops_outputs.dbops_targets
}

output "dbops_target_details" {
  description = "What dbops needs to know of each target (never a secret value)."
  value       = local.dbops_outputs.dbops_target_details
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

output "runner" {
  description = "The drill runner: its rules' schedules (UTC), what each target runs, its log group."
  value = {
    schedules          = module.runner.schedules
    commands           = module.runner.commands
    rule_names         = module.runner.rule_names
    log_group_name     = module.runner.log_group_name
    task_role_arn      = module.runner.task_role_arn
    execution_role_arn = module.runner.execution_role_arn
    events_role_arn    = module.runner.events_role_arn
  }
}

output "lake" {
  description = "The analytics lake: bucket, Glue database, Athena workgroup, its key, its locations and the export's IAM policy document."
  value       = module.estate.lake
}
