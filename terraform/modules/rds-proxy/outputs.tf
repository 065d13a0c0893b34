output "proxy_name" {
  description = "Name of the proxy."
  value       = aws_db_proxy.this.name
}

output "proxy_arn" {
  description = "ARN of the proxy."
  value       = aws_db_proxy.this.arn
}

output "proxy_endpoint" {
  description = "Host name of the proxy's default (read/write) endpoint; it routes to the cluster's writer."
  value       = aws_db_proxy.this.endpoint
}

output "proxy_port" {
  description = "Port the proxy listens on (5432 for PostgreSQL, whatever the cluster's port)."
  value       = local.proxy_port
}

output "security_group_id" {
  description = "Security group of the proxy."
  value       = aws_security_group.this.id
}

output "iam_role_arn" {
  description = "Role the proxy assumes to read the master secret."
  value       = aws_iam_role.this.arn
}
