output "key_arn" {
  description = "ARN of the key."
  value       = module.kms.key_arn
}

output "key_id" {
  description = "Id of the key."
  value       = module.kms.key_id
}

output "alias_name" {
  description = "Alias of the key."
  value       = module.kms.alias_name
}
