output "schedules" {
  description = "Schedule expression (UTC) of each rule."
  value       = module.runner.schedules
}

output "rule_names" {
  description = "EventBridge rules; pass them to the monitoring module's event_rule_names."
  value       = module.runner.rule_names
}

output "task_role_arn" {
  description = "Role the tasks act as."
  value       = module.runner.task_role_arn
}

output "log_group_name" {
  description = "Where the tasks' output goes."
  value       = module.runner.log_group_name
}
