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
  tags = { example = "rds-proxy-complete", "managed-by" = "dbops" }
}

module "kms" {
  source = "../../../kms"

  alias                 = "${local.name}-proxy"
  account_id            = var.account_id
  service_principals    = ["rds.amazonaws.com", "secretsmanager.amazonaws.com", "monitoring.rds.amazonaws.com"]
  allow_cloudwatch_logs = true
  tags                  = local.tags
}

module "aurora" {
  source = "../../../aurora-postgres"

  name                       = local.name
  engine                     = "aurora-postgresql"
  engine_version             = "15.4"
  instance_class             = "db.r6g.large"
  reader_count               = 1
  availability_zones         = var.availability_zones
  vpc_id                     = var.vpc_id
  subnet_ids                 = var.subnet_ids
  allowed_security_group_ids = var.app_security_group_ids
  master_password            = var.master_password
  kms_key_arn                = module.kms.key_arn
  tags                       = local.tags
}

module "proxy" {
  source = "../../"

  name                         = "${local.name}-proxy"
  db_cluster_identifier        = module.aurora.cluster_id
  secret_arn                   = module.aurora.secret_arn
  kms_key_arn                  = module.kms.key_arn
  vpc_id                       = var.vpc_id
  subnet_ids                   = var.subnet_ids
  db_security_group_id         = module.aurora.security_group_id
  db_port                      = 5432
  allowed_security_group_ids   = var.app_security_group_ids
  allowed_cidr_blocks          = var.allowed_cidr_blocks
  iam_auth                     = var.iam_auth
  idle_client_timeout          = 1800
  max_connections_percent      = 90
  max_idle_connections_percent = 45
  connection_borrow_timeout    = 120
  tags                         = local.tags
}
