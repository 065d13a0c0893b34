output "state_bucket" {
  description = "Bucket for backend.hcl."
  value       = aws_s3_bucket.state.bucket
}

output "lock_table" {
  description = "Lock table for backend.hcl."
  value       = module.lock_table.table_name
}

output "kms_key_alias" {
  description = "Key for backend.hcl (kms_key_id)."
  value       = module.kms.alias_name
}
