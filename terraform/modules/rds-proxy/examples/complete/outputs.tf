output "proxy_endpoint" {
  description = "Where clients connect: the proxy's read/write endpoint, port 5432, TLS required."
  value       = module.proxy.proxy_endpoint
}

output "proxy_arn" {
  description = "ARN of the proxy."
  value       = module.proxy.proxy_arn
}

output "proxy_name" {
  description = "Name of the proxy."
  value       = module.proxy.proxy_name
}

output "writer_endpoint" {
  description = "The cluster's own writer endpoint, for clients that bypass the proxy."
  value       = module.aurora.writer_endpoint
}

output "secret_arn" {
  description = "Secret holding the master credentials the proxy uses (its ARN, never the value)."
  value       = module.aurora.secret_arn
}
