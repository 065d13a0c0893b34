output "budget_name" {
  description = "Budget name."
  value       = aws_budgets_budget.this.name
}

output "monthly_limit_usd" {
  description = "The monthly limit in USD."
  value       = var.monthly_limit_usd
}
