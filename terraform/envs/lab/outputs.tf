output "dbops_targets" {
  description = "Targets dbops acts on, as KIND:NAME."
  value       = ["dynamodb:${aws_dynamodb_table.orders.name}"]
}

output "dbops_target_details" {
  description = "What dbops needs to know of each target."
  value = {
    "dynamodb:${aws_dynamodb_table.orders.name}" = { arn = aws_dynamodb_table.orders.arn }
  }
}
