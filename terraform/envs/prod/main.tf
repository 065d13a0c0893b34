# The production estate: the same composition as the lab, across three AZs, with two
# readers, deletion protection, final snapshots, AWS Backup continuous backup and an RDS Proxy
# in front of the cluster.

data "aws_caller_identity" "current" {}

module "estate" {
  source = "../../modules/estate"

  env                          = "prod"
  account_id                   = data.aws_caller_identity.current.account_id
  vpc_id                       = var.vpc_id
  subnet_ids                   = var.subnet_ids
  availability_zones           = var.availability_zones
  allowed_security_group_ids   = var.app_security_group_ids
  aurora_name                  = "prod-aurora"
  aurora_instance_class        = var.aurora_instance_class
  aurora_reader_count          = 2
  aurora_master_password       = var.aurora_master_password
  aurora_backup_retention_days = 14
  deletion_protection          = true
  rds_proxy_enabled            = var.rds_proxy_enabled
  backup_retention_days        = 35
  continuous_backup            = true
  account_budget_usd           = var.account_budget_usd
  alarm_emails                 = var.alarm_emails
  budget_emails                = var.budget_emails
  tags                         = { env = "prod" }
}
