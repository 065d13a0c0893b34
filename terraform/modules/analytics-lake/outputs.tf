output "bucket" {
  description = "Name of the lake's S3 bucket."
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the lake's S3 bucket."
  value       = aws_s3_bucket.this.arn
}

output "data_location" {
  description = "s3://BUCKET/DATA_PREFIX/: a table's data lives under TABLE/data/ below it."
  value       = "s3://${aws_s3_bucket.this.id}/${var.data_prefix}/"
}

output "staging_location" {
  description = "s3://BUCKET/STAGING_PREFIX/: batches and DynamoDB exports before they are published (expires)."
  value       = "s3://${aws_s3_bucket.this.id}/${var.staging_prefix}/"
}

output "database" {
  description = "Name of the Glue Data Catalog database."
  value       = aws_glue_catalog_database.this.name
}

output "workgroup" {
  description = "Name of the Athena workgroup."
  value       = aws_athena_workgroup.this.name
}

output "results_location" {
  description = "Where the workgroup writes query results (enforced)."
  value       = aws_athena_workgroup.this.configuration[0].result_configuration[0].output_location
}

output "kms_key_arn" {
  description = "ARN of the lake's CMK."
  value       = module.kms.key_arn
}

output "export_policy_json" {
  description = "IAM policy document (JSON) of what the export calls on the lake and the estate's tables; attach it to the export's role."
  value       = jsonencode(local.export_policy)
}

output "export_policy_actions" {
  description = "The IAM actions export_policy_json grants, by statement Sid: known at plan (the policy's key ARN is not)."
  value       = { for s in local.export_policy.Statement : s.Sid => s.Action }
}
