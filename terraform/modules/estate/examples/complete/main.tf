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

module "estate" {
  source = "../../"

  env                          = "example"
  account_id                   = var.account_id
  vpc_id                       = var.vpc_id
  subnet_ids                   = var.subnet_ids
  availability_zones           = var.availability_zones
  allowed_security_group_ids   = var.app_security_group_ids
  aurora_name                  = "example-aurora"
  aurora_reader_count          = 1
  aurora_master_password       = var.aurora_master_password
  aurora_backup_retention_days = 7
  aurora_log_retention_days    = 365
  deletion_protection          = true
  table_prefix                 = "example-"
  backup_retention_days        = 35
  continuous_backup            = true
  account_budget_usd           = 80
  alarm_emails                 = var.alarm_emails
  budget_emails                = var.budget_emails
  lake_pipeline_prefixes       = ["lake/orders"]
  tags                         = { env = "example", "managed-by" = "dbops" }
}
