output "bucket" {
  description = "Name of the lake's S3 bucket."
  value       = module.lake.bucket
}

output "database" {
  description = "Glue database of the lake's tables."
  value       = module.lake.database
}

output "workgroup" {
  description = "Athena workgroup of the lake."
  value       = module.lake.workgroup
}

output "kms_key_arn" {
  description = "ARN of the lake's CMK."
  value       = module.lake.kms_key_arn
}

output "export_policy_json" {
  description = "IAM policy document of the export."
  value       = module.lake.export_policy_json
}

output "export_policy_actions" {
  description = "The IAM actions the export policy grants, by statement Sid."
  value       = module.lake.export_policy_actions
}
