output "vault_name" {
  description = "Backup vault."
  value       = module.backup.vault_name
}

output "plan_id" {
  description = "Backup plan."
  value       = module.backup.plan_id
}

output "sns_topic_arn" {
  description = "Topic of the vault's job events."
  value       = module.notifications.sns_topic_arn
}
