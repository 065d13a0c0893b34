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

module "budget" {
  source = "../../"

  name              = "dbops-example"
  account_id        = var.account_id
  monthly_limit_usd = 80
  time_period_start = "2026-01-01_00:00"
  email_addresses   = var.email_addresses
}
