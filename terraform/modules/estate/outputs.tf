output "dbops_targets" {
  description = "Targets dbops acts on, as KIND:NAME."
  value = [
    "aurora:${module.aurora.cluster_id}",
    "dynamodb:${module.orders.table_name}",
    "dynamodb:${module.sessions.table_name}",
  ]
}

output "dbops_target_details" {
  description = "What dbops needs to know of each target (never a secret value)."
  value = {
    "aurora:${module.aurora.cluster_id}" = {
      arn             = module.aurora.cluster_arn
      writer_endpoint = module.aurora.writer_endpoint
      reader_endpoint = module.aurora.reader_endpoint
      port            = tostring(module.aurora.port)
      secret_arn      = module.aurora.secret_arn
      # HOST:PORT of the RDS Proxy (as `--via` takes it); empty when the estate has none.
      proxy_endpoint = join("", [for p in module.proxy : "${p.proxy_endpoint}:${p.proxy_port}"])
    }
    "dynamodb:${module.orders.table_name}" = {
      arn             = module.orders.table_arn
      writer_endpoint = ""
      reader_endpoint = ""
      port            = ""
      secret_arn      = ""
      proxy_endpoint  = ""
    }
    "dynamodb:${module.sessions.table_name}" = {
      arn             = module.sessions.table_arn
      writer_endpoint = ""
      reader_endpoint = ""
      port            = ""
      secret_arn      = ""
      proxy_endpoint  = ""
    }
  }
}

output "rds_proxy_name" {
  description = "Name of the RDS Proxy in front of the cluster; empty when the estate has none."
  value       = join("", module.proxy[*].proxy_name)
}

output "rds_proxy_arn" {
  description = "ARN of the RDS Proxy; empty when the estate has none."
  value       = join("", module.proxy[*].proxy_arn)
}

output "kms_key_arn" {
  description = "The estate's CMK."
  value       = module.kms.key_arn
}

output "aurora_instance_ids" {
  description = "Instances of the Aurora cluster."
  value       = module.aurora.instance_ids
}

output "aurora_security_group_id" {
  description = "Security group of the Aurora cluster (a drill-runner admits its tasks to it)."
  value       = module.aurora.security_group_id
}

output "aurora_port" {
  description = "PostgreSQL port of the Aurora cluster."
  value       = module.aurora.port
}

output "aurora_log_group_name" {
  description = "Log group of the cluster's PostgreSQL log."
  value       = module.aurora.log_group_name
}

output "backup_vault_name" {
  description = "The AWS Backup vault."
  value       = module.backup.vault_name
}

output "backup_plan_id" {
  description = "The AWS Backup plan."
  value       = module.backup.plan_id
}

output "backup_selection_id" {
  description = "The AWS Backup selection."
  value       = module.backup.selection_id
}

output "budget_name" {
  description = "The monthly budget."
  value       = module.budget.budget_name
}

output "sns_topic_arn" {
  description = "The alarm topic."
  value       = module.monitoring.sns_topic_arn
}

output "alarm_names" {
  description = "Every alarm of the estate."
  value       = module.monitoring.alarm_names
}

output "lake" {
  description = "The analytics lake: bucket, Glue database, Athena workgroup, its key, where tables and query results live, and the export's IAM policy document."
  value = {
    bucket             = module.lake.bucket
    database           = module.lake.database
    workgroup          = module.lake.workgroup
    kms_key_arn        = module.lake.kms_key_arn
    data_location      = module.lake.data_location
    staging_location   = module.lake.staging_location
    results_location   = module.lake.results_location
    export_policy_json = module.lake.export_policy_json
  }
}
