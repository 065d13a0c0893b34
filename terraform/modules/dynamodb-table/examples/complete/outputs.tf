output "orders_table_arn" {
  description = "ARN of the on-demand table."
  value       = module.orders.table_arn
}

output "orders_stream_arn" {
  description = "Stream of the on-demand table."
  value       = module.orders.stream_arn
}

output "events_table_arn" {
  description = "ARN of the provisioned, autoscaled table."
  value       = module.events.table_arn
}
