output "cluster_arn" {
  description = "ECS cluster the runner's tasks run in."
  value       = aws_ecs_cluster.this.arn
}

output "task_definition_arns" {
  description = "Task definitions by job: drill (the image's entrypoint, scripts/drill-weekly) and dbops (one dbops command)."
  value       = { for k, t in aws_ecs_task_definition.this : k => t.arn }
}

output "task_role_arn" {
  description = "Role the tasks act as: exactly task_policy_json."
  value       = aws_iam_role.task.arn
}

output "execution_role_arn" {
  description = "Role ECS uses to pull the image and write the log."
  value       = aws_iam_role.execution.arn
}

output "events_role_arn" {
  description = "Role EventBridge uses to run the tasks."
  value       = aws_iam_role.events.arn
}

output "rule_names" {
  description = "EventBridge rules of the runner (the schedules and the failed-task notice); the monitoring module alarms on their failed invocations (event_rule_names)."
  value       = concat([for r in aws_cloudwatch_event_rule.this : r.name], [aws_cloudwatch_event_rule.task_failed.name])
}

output "schedules" {
  description = "Schedule expression (UTC) of each rule, by job: weekly-drill, window-start, window-end, daily."
  value       = local.schedules
}

output "commands" {
  description = "What each EventBridge target runs: its rule, its task definition and the command given to the container."
  value       = local.targets
}

output "log_group_name" {
  description = "Log group of the tasks' output (one stream per task, prefixed by its task definition's job)."
  value       = aws_cloudwatch_log_group.this.name
}

output "security_group_id" {
  description = "Security group of the tasks."
  value       = aws_security_group.this.id
}
