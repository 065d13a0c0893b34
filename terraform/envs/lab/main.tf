# The lab estate on the embedded AWS emulator: writer + 1 reader, the two tables, the backup
# plan, an 80 USD account budget and the alarms. Deletion protection is off here, and only here, so
# the lab can be destroyed. No RDS Proxy unless rds_proxy_enabled (it would cost money on AWS).

data "aws_caller_identity" "current" {}

locals {
  azs  = ["${var.region}a", "${var.region}b"]
  tags = { env = "lab", "managed-by" = "dbops" }

  # What dbops reads of the env's outputs: outputs.tf gives them, and the runner's tasks, which cannot
  # run Terraform, get them as DBOPS_TF_OUTPUTS. Names, ARNs and endpoints: no secret value.
  dbops_outputs = {
    dbops_targets        = module.estate.dbops_targets
    dbops_target_details = module.estate.dbops_target_details
  }
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

module "estate" {
  source = "../../modules/estate"

  env                          = "lab"
  account_id                   = data.aws_caller_identity.current.account_id
  vpc_id                       = aws_vpc.lab.id
  subnet_ids                   = [for s in aws_subnet.lab : s.id]
  availability_zones           = local.azs
  allowed_cidr_blocks          = [aws_vpc.lab.cidr_block]
  aurora_name                  = "lab-aurora"
  aurora_engine                = var.aurora_engine
  aurora_reader_count          = var.aurora_reader_count
  aurora_master_password       = var.aurora_master_password
  aurora_backup_retention_days = var.aurora_backup_retention_days
  deletion_protection          = false
  rds_proxy_enabled            = var.rds_proxy_enabled
  account_budget_usd           = var.account_budget_usd
  runner_rule_names            = module.runner.rule_names
  # The lake's per-query guardrail; `dbops cost estimate` holds each query's bill to it.
  lake_bytes_scanned_cutoff_per_query = var.lake_bytes_scanned_cutoff_per_query
  # dbops.toml's pipelines: their DynamoDB exports and quarantined batches expire.
  lake_pipeline_prefixes = ["lake/orders"]
  tags                   = local.tags
}

# The weekly drill, the window's stop/start and the daily checks, as AWS would run them: Fargate
# tasks started by EventBridge. The emulator keeps the definitions and runs no task.
module "runner" {
  source = "../../modules/drill-runner"

  name                  = "dbops-lab-runner"
  env                   = "lab"
  image                 = var.runner_image
  task_policy_json      = file("${path.module}/runner-policy.json")
  window_days           = var.window_days
  window_start          = var.window_start
  window_hours          = var.window_hours
  failover_target       = "aurora:lab-aurora"
  restore_target        = "aurora:lab-aurora"
  env_outputs_json      = jsonencode(local.dbops_outputs)
  vpc_id                = aws_vpc.lab.id
  subnet_ids            = [for s in aws_subnet.lab : s.id]
  db_security_group_ids = { aurora = module.estate.aurora_security_group_id }
  db_port               = module.estate.aurora_port
  kms_key_arn           = module.estate.kms_key_arn
  alarm_topic_arn       = module.estate.sns_topic_arn
  tags                  = local.tags
}
