# The database estate as one unit: the CMK, the Aurora cluster (with an optional RDS Proxy),
# the orders and sessions tables, the alarms, the backup plan covering all of them and the budget. Envs differ only
# in the inputs (network, sizes, protection); the composition is the same everywhere.

locals {
  # Names known at plan time, so the alarms' for_each keys are too.
  aurora_readers = [for i in range(var.aurora_reader_count) : "${var.aurora_name}-${i + 2}"]
  table_names    = ["${var.table_prefix}orders", "${var.table_prefix}sessions"]
  # Services that publish to the alarm topic; the topic's key lets the same ones use it. EventBridge
  # carries a drill-runner's failed tasks.
  sns_publishers = ["cloudwatch.amazonaws.com", "backup.amazonaws.com", "budgets.amazonaws.com", "events.amazonaws.com"]
  # Every resource carries its env: the runner's writes on the estate's clusters are held to this tag
  # (`dbops permissions`: aws:ResourceTag/dbops:env), so a role of one env cannot stop another env's clusters.
  tags = merge(var.tags, { "dbops:env" = var.env })
}

module "kms" {
  source = "../kms"

  alias      = "dbops-${var.env}"
  account_id = var.account_id
  # A key scheduled for deletion can be restored within the window: the longest AWS allows where protected.
  deletion_window_in_days  = var.deletion_protection ? 30 : 7
  service_principals       = ["rds.amazonaws.com", "dynamodb.amazonaws.com", "backup.amazonaws.com", "secretsmanager.amazonaws.com", "sns.amazonaws.com", "monitoring.rds.amazonaws.com"]
  sns_publisher_principals = local.sns_publishers
  allow_cloudwatch_logs    = true
  tags                     = local.tags
}

module "aurora" {
  source = "../aurora-postgres"

  name                        = var.aurora_name
  engine                      = var.aurora_engine
  engine_version              = var.aurora_engine_version
  instance_class              = var.aurora_instance_class
  reader_count                = var.aurora_reader_count
  availability_zones          = var.availability_zones
  vpc_id                      = var.vpc_id
  subnet_ids                  = var.subnet_ids
  allowed_security_group_ids  = var.allowed_security_group_ids
  allowed_cidr_blocks         = var.allowed_cidr_blocks
  master_password             = var.aurora_master_password
  kms_key_arn                 = module.kms.key_arn
  backup_retention_days       = var.aurora_backup_retention_days
  deletion_protection         = var.deletion_protection
  skip_final_snapshot         = !var.deletion_protection
  secret_recovery_window_days = var.deletion_protection ? 7 : 0
  log_retention_days          = var.aurora_log_retention_days
  tags                        = local.tags
}

# RDS Proxy in front of the cluster, off unless rds_proxy_enabled: it is billed per vCPU-hour of
# the cluster's instances. Clients and dbops' drills reach it on 5432 with the master credentials.
module "proxy" {
  source = "../rds-proxy"
  count  = var.rds_proxy_enabled ? 1 : 0

  name                         = "${var.aurora_name}-proxy"
  db_cluster_identifier        = module.aurora.cluster_id
  secret_arn                   = module.aurora.secret_arn
  kms_key_arn                  = module.kms.key_arn
  vpc_id                       = var.vpc_id
  subnet_ids                   = var.subnet_ids
  db_security_group_id         = module.aurora.security_group_id
  db_port                      = module.aurora.port
  allowed_security_group_ids   = var.allowed_security_group_ids
  allowed_cidr_blocks          = var.allowed_cidr_blocks
  iam_auth                     = var.rds_proxy_iam_auth
  max_connections_percent      = var.rds_proxy_max_connections_percent
  max_idle_connections_percent = floor(var.rds_proxy_max_connections_percent / 2)
  tags                         = local.tags
}

module "orders" {
  source = "../dynamodb-table"

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
  source = "../dynamodb-table"

  name          = local.table_names[1]
  hash_key      = "session_id"
  attributes    = [{ name = "session_id", type = "S" }]
  ttl_attribute = "expires_at"
  kms_key_arn   = module.kms.key_arn
  tags          = local.tags
}

module "monitoring" {
  source = "../monitoring"

  name                         = "dbops-${var.env}"
  account_id                   = var.account_id
  kms_key_arn                  = module.kms.key_arn
  publisher_service_principals = local.sns_publishers
  email_addresses              = var.alarm_emails
  aurora_cluster_ids           = [var.aurora_name]
  aurora_reader_instance_ids   = local.aurora_readers
  dynamodb_table_names         = local.table_names
  backup_vault_name            = "dbops-${var.env}"
  drill_env                    = var.env
  event_rule_names             = var.runner_rule_names
  tags                         = local.tags
}

module "backup" {
  source = "../backup"

  name               = "dbops-${var.env}"
  kms_key_arn        = module.kms.key_arn
  retention_days     = var.backup_retention_days
  continuous_backup  = var.continuous_backup
  notify_failed_jobs = true
  sns_topic_arn      = module.monitoring.sns_topic_arn
  tags               = local.tags
}

module "budget" {
  source = "../cost-guardrails"

  name              = "dbops-${var.env}"
  account_id        = var.account_id
  monthly_limit_usd = var.account_budget_usd
  email_addresses   = var.budget_emails
  sns_topic_arn     = module.monitoring.sns_topic_arn
}

# The analytics lake `dbops etl` publishes to, with its own key. Its export reads the estate's tables
# at a point in time (ExportTableToPointInTime), never their capacity. Bucket names are global: the
# account id keeps the env's name unique.
module "lake" {
  source = "../analytics-lake"

  name                           = "dbops-${var.env}-lake"
  account_id                     = var.account_id
  bucket_name                    = "dbops-${lower(var.env)}-lake-${var.account_id}"
  database_name                  = "dbops_${replace(lower(var.env), "-", "_")}_lake"
  export_table_arns              = [module.orders.table_arn, module.sessions.table_arn]
  bytes_scanned_cutoff_per_query = var.lake_bytes_scanned_cutoff_per_query
  pipeline_prefixes              = var.lake_pipeline_prefixes
  force_destroy                  = !var.deletion_protection
  key_deletion_window_in_days    = var.deletion_protection ? 30 : 7
  tags                           = local.tags
}
