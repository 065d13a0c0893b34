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
  name = "dbops-example-backup"
  tags = { example = "backup-complete", "managed-by" = "dbops" }
}

module "kms" {
  source = "../../../kms"

  alias                    = local.name
  account_id               = var.account_id
  service_principals       = ["backup.amazonaws.com"]
  sns_publisher_principals = ["backup.amazonaws.com"]
  tags                     = local.tags
}

# The topic of the vault's job events: encrypted with the key, published to by AWS Backup,
# its email subscribers receive only jobs that did not complete.
module "notifications" {
  source = "../../../monitoring"

  name                         = local.name
  account_id                   = var.account_id
  kms_key_arn                  = module.kms.key_arn
  publisher_service_principals = ["backup.amazonaws.com"]
  email_addresses              = var.email_addresses
  tags                         = local.tags
}

module "backup" {
  source = "../../"

  name               = local.name
  kms_key_arn        = module.kms.key_arn
  retention_days     = 35
  continuous_backup  = true
  notify_failed_jobs = true
  sns_topic_arn      = module.notifications.sns_topic_arn
  tags               = local.tags
}
