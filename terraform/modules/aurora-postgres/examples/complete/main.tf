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
  name = "dbops-example"
  tags = { example = "aurora-postgres-complete", "managed-by" = "dbops" }
}

module "kms" {
  source = "../../../kms"

  alias                 = "${local.name}-aurora"
  account_id            = var.account_id
  service_principals    = ["rds.amazonaws.com", "secretsmanager.amazonaws.com", "monitoring.rds.amazonaws.com"]
  allow_cloudwatch_logs = true
  tags                  = local.tags
}

module "aurora" {
  source = "../../"

  name                  = local.name
  engine                = "aurora-postgresql"
  engine_version        = "15.4"
  instance_class        = "db.t3.medium"
  reader_count          = 1
  availability_zones    = var.availability_zones
  vpc_id                = var.vpc_id
  subnet_ids            = var.subnet_ids
  allowed_cidr_blocks   = var.allowed_cidr_blocks
  master_password       = var.master_password
  kms_key_arn           = module.kms.key_arn
  backup_retention_days = 7
  log_retention_days    = var.log_retention_days
  tags                  = local.tags
}
