output "cluster_id" {
  description = "Cluster identifier."
  value       = aws_rds_cluster.this.id
}

output "cluster_arn" {
  description = "Cluster ARN."
  value       = aws_rds_cluster.this.arn
}

output "writer_endpoint" {
  description = "Cluster (writer) endpoint."
  value       = aws_rds_cluster.this.endpoint
}

output "reader_endpoint" {
  description = "Reader endpoint."
  value       = aws_rds_cluster.this.reader_endpoint
}

output "port" {
  description = "Database port."
  value       = aws_rds_cluster.this.port
}

output "instance_ids" {
  description = "Instance identifiers, writer first at creation."
  value       = [for k in sort(keys(aws_rds_cluster_instance.this)) : aws_rds_cluster_instance.this[k].identifier]
}

output "secret_arn" {
  description = "ARN of the Secrets Manager secret holding the master credentials (never the value)."
  value       = aws_secretsmanager_secret.master.arn
}

output "security_group_id" {
  description = "Security group of the cluster."
  value       = aws_security_group.this.id
}

output "log_group_name" {
  description = "CloudWatch log group of the exported PostgreSQL log."
  value       = aws_cloudwatch_log_group.postgresql.name
}
