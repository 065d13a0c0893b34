output "vault_name" {
  description = "Backup vault name."
  value       = aws_backup_vault.this.name
}

output "vault_arn" {
  description = "Backup vault ARN."
  value       = aws_backup_vault.this.arn
}

output "plan_id" {
  description = "Backup plan id."
  value       = aws_backup_plan.this.id
}

output "selection_id" {
  description = "Backup selection id."
  value       = aws_backup_selection.this.id
}

output "role_arn" {
  description = "Role AWS Backup assumes for backups and restores."
  value       = aws_iam_role.this.arn
}
