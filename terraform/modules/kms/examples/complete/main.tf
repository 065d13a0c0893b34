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
  tags = { example = "kms-complete", "managed-by" = "dbops" }
}

module "kms" {
  source = "../../"

  alias                    = "dbops-example"
  description              = "dbops example key"
  account_id               = var.account_id
  service_principals       = ["rds.amazonaws.com", "dynamodb.amazonaws.com", "backup.amazonaws.com"]
  sns_publisher_principals = ["cloudwatch.amazonaws.com", "budgets.amazonaws.com", "backup.amazonaws.com"]
  allow_cloudwatch_logs    = true
  deletion_window_in_days  = 7
  tags                     = local.tags
}
