output "table_name" {
  description = "Table name."
  value       = local.table.name
}

output "table_arn" {
  description = "Table ARN."
  value       = local.table.arn
}

output "stream_arn" {
  description = "Stream ARN, empty when streams are off."
  value       = local.table.stream_arn
}
