output "cluster_id" {
  description = "Cluster identifier."
  value       = module.aurora.cluster_id
}

output "writer_endpoint" {
  description = "Writer endpoint."
  value       = module.aurora.writer_endpoint
}

output "reader_endpoint" {
  description = "Reader endpoint."
  value       = module.aurora.reader_endpoint
}

output "instance_ids" {
  description = "Instances, writer first at creation."
  value       = module.aurora.instance_ids
}

output "secret_arn" {
  description = "Secret holding the master credentials (its ARN, never the value)."
  value       = module.aurora.secret_arn
}

output "log_group_name" {
  description = "Log group of the exported PostgreSQL log."
  value       = module.aurora.log_group_name
}
