output "budget_name" {
  description = "Budget name."
  value       = module.budget.budget_name
}

output "monthly_limit_usd" {
  description = "Monthly limit in USD."
  value       = module.budget.monthly_limit_usd
}
