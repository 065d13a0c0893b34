# The lab estate on the embedded AWS emulator: one Aurora cluster (writer + 1 reader), the
# orders and sessions tables, their CMK, the backup plan covering all of them, an 80 USD
# budget and the alarms. Deletion protection is off here, and only here, so the lab can be
# destroyed; prod keeps the modules' safe defaults.

data "aws_caller_identity" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  azs        = ["${var.region}a", "${var.region}b"]
  tags       = { env = "lab", "managed-by" = "dbops" }

  # Names known at plan time, so the alarms' for_each keys are too.
  aurora_name    = "lab-aurora"
  aurora_readers = [for i in range(var.aurora_reader_count) : "${local.aurora_name}-${i + 2}"]
  table_names    = ["orders", "sessions"]
}

# The emulator needs a network for the DB subnet group; it carries no traffic.
resource "aws_vpc" "lab" {
  #checkov:skip=CKV2_AWS_11:the lab VPC exists only inside the emulator and carries no traffic to log
  #checkov:skip=CKV2_AWS_12:the lab VPC exists only inside the emulator; its default security group is never used
  cidr_block = "10.42.0.0/16"
  tags       = local.tags
}

resource "aws_subnet" "lab" {
  for_each = { for i, az in local.azs : az => i }

  vpc_id            = aws_vpc.lab.id
  availability_zone = each.key
  cidr_block        = cidrsubnet(aws_vpc.lab.cidr_block, 8, each.value)
  tags              = local.tags
}

module "kms" {
  source = "../../modules/kms"

  alias              = "dbops-lab"
  account_id         = local.account_id
  service_principals = ["rds.amazonaws.com", "dynamodb.amazonaws.com", "backup.amazonaws.com", "secretsmanager.amazonaws.com", "sns.amazonaws.com", "monitoring.rds.amazonaws.com"]
  tags               = local.tags
}

module "aurora" {
  source = "../../modules/aurora-postgres"

  name                        = local.aurora_name
  engine                      = var.aurora_engine
  instance_class              = "db.t3.medium"
  reader_count                = var.aurora_reader_count
  availability_zones          = local.azs
  vpc_id                      = aws_vpc.lab.id
  subnet_ids                  = [for s in aws_subnet.lab : s.id]
  allowed_cidr_blocks         = [aws_vpc.lab.cidr_block]
  master_password             = var.aurora_master_password
  kms_key_arn                 = module.kms.key_arn
  backup_retention_days       = var.aurora_backup_retention_days
  deletion_protection         = false
  skip_final_snapshot         = true
  secret_recovery_window_days = 0
  tags                        = local.tags
}

module "orders" {
  source = "../../modules/dynamodb-table"

  name      = local.table_names[0]
  hash_key  = "pk"
  range_key = "sk"
  attributes = [
    { name = "pk", type = "S" },
    { name = "sk", type = "S" },
    { name = "customer_id", type = "S" },
  ]
  global_secondary_indexes = [
    { name = "by-customer", hash_key = "customer_id", range_key = "sk", projection_type = "ALL" },
  ]
  stream_view_type = "NEW_AND_OLD_IMAGES"
  kms_key_arn      = module.kms.key_arn
  tags             = local.tags
}

module "sessions" {
  source = "../../modules/dynamodb-table"

  name          = local.table_names[1]
  hash_key      = "session_id"
  attributes    = [{ name = "session_id", type = "S" }]
  ttl_attribute = "expires_at"
  kms_key_arn   = module.kms.key_arn
  tags          = local.tags
}

module "monitoring" {
  source = "../../modules/monitoring"

  name                       = "dbops-lab"
  account_id                 = local.account_id
  kms_key_arn                = module.kms.key_arn
  aurora_cluster_ids         = [local.aurora_name]
  aurora_reader_instance_ids = local.aurora_readers
  dynamodb_table_names       = local.table_names
  backup_vault_name          = "dbops-lab"
  tags                       = local.tags
}

module "backup" {
  source = "../../modules/backup"

  name               = "dbops-lab"
  kms_key_arn        = module.kms.key_arn
  retention_days     = 7
  notify_failed_jobs = true
  sns_topic_arn      = module.monitoring.sns_topic_arn
  tags               = local.tags
}

module "budget" {
  source = "../../modules/cost-guardrails"

  name              = "dbops-lab"
  account_id        = local.account_id
  monthly_limit_usd = var.monthly_budget_usd
  sns_topic_arn     = module.monitoring.sns_topic_arn
}
