provider "aws" {
  region = var.region

  # offline = true plans without an AWS account: no credential check, no account id
  # lookup, no instance metadata, and no retries of the one call provider 3.x still makes
  # when it starts (EC2 DescribeAccountAttributes), which then fails at once and is only
  # logged. Leave it false to apply.
  skip_credentials_validation = var.offline
  skip_requesting_account_id  = var.offline
  skip_metadata_api_check     = var.offline
  max_retries                 = var.offline ? 0 : null
}

locals {
  name = "dbops-example-alarms"
  tags = { example = "monitoring-complete", "managed-by" = "dbops" }
  # Every service that publishes to the topic is granted the topic's key too.
  publishers = ["cloudwatch.amazonaws.com", "backup.amazonaws.com", "budgets.amazonaws.com"]
}

module "kms" {
  source = "../../../kms"

  alias                    = local.name
  account_id               = var.account_id
  sns_publisher_principals = local.publishers
  tags                     = local.tags
}

module "monitoring" {
  source = "../../"

  name                         = local.name
  account_id                   = var.account_id
  kms_key_arn                  = module.kms.key_arn
  publisher_service_principals = local.publishers
  email_addresses              = var.email_addresses
  aurora_cluster_ids           = ["dbops-example"]
  aurora_reader_instance_ids   = ["dbops-example-2"]
  dynamodb_table_names         = ["dbops-example-orders"]
  backup_vault_name            = "dbops-example"
  drill_env                    = "example"
  replica_lag_ms               = 100
  cpu_percent                  = 80
  tags                         = local.tags
}
