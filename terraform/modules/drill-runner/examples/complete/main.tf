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
  tags = { example = "drill-runner-complete", "managed-by" = "dbops" }
  # Who publishes to the alarm topic, and may therefore use its key.
  publishers = ["cloudwatch.amazonaws.com", "events.amazonaws.com"]
}

module "kms" {
  source = "../../../kms"

  alias                    = "${local.name}-runner"
  account_id               = var.account_id
  allow_cloudwatch_logs    = true
  sns_publisher_principals = local.publishers
  tags                     = local.tags
}

# The alarm topic: CloudWatch alarms on the rules' failed invocations, EventBridge for failed tasks.
module "monitoring" {
  source = "../../../monitoring"

  name                         = "${local.name}-runner"
  account_id                   = var.account_id
  kms_key_arn                  = module.kms.key_arn
  publisher_service_principals = local.publishers
  event_rule_names             = module.runner.rule_names
  drill_env                    = "prod"
  tags                         = local.tags
}

module "runner" {
  source = "../../"

  name = "${local.name}-runner"
  env  = "prod"
  # Built from the repository's Dockerfile and pushed to ECR: pin the digest the push printed.
  image = "${var.account_id}.dkr.ecr.${var.region}.amazonaws.com/dbops@${var.image_digest}"
  # `dbops permissions drill failover drill restore backup verify cost check schedule apply --format json`
  task_policy_json = file("${path.module}/task-policy.json")
  # An env without a window (window_days = null) gives drill_schedule instead: no rule then starts or
  # stops its clusters.
  window_days      = var.window_days
  window_start     = var.window_days == null ? null : var.window_start
  window_hours     = var.window_days == null ? null : var.window_hours
  drill_schedule   = var.drill_schedule
  failover_target  = "aurora:prod-aurora"
  restore_target   = "aurora:prod-aurora"
  confirm          = ["prod:aurora:prod-aurora"] # the drilled target
  schedule_confirm = ["prod"]                    # schedule apply acts on the whole env
  # The prod env's outputs dbops reads, as its own configuration gives them (module estate).
  env_outputs_json = jsonencode({
    dbops_targets = ["aurora:prod-aurora"]
    dbops_target_details = {
      "aurora:prod-aurora" = {
        arn        = "arn:aws:rds:${var.region}:${var.account_id}:cluster:prod-aurora"
        port       = "5432"
        secret_arn = "arn:aws:secretsmanager:${var.region}:${var.account_id}:secret:prod-aurora-master-AbCdEf"
      }
    }
  })
  vpc_id                = var.vpc_id
  subnet_ids            = var.subnet_ids
  db_security_group_ids = var.db_security_group_id == null ? {} : { aurora = var.db_security_group_id }
  kms_key_arn           = module.kms.key_arn
  alarm_topic_arn       = module.monitoring.sns_topic_arn
  cpu                   = var.cpu
  memory                = var.memory
  log_retention_days    = 731
  tags                  = local.tags
}
