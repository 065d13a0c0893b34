data "aws_partition" "current" {}

locals {
  major_version = split(".", var.engine_version)[0]
  family        = "aurora-postgresql${local.major_version}"

  # Instance "1" is created first and becomes the writer; the rest are readers. Keys are
  # stable numbers, so adding or removing a reader never recreates another instance.
  instances = {
    for i in range(var.reader_count + 1) : tostring(i + 1) => {
      promotion_tier    = i == 0 ? 0 : min(i, 15)
      availability_zone = length(var.availability_zones) == 0 ? null : var.availability_zones[i % length(var.availability_zones)]
    }
  }

  tags = merge(var.tags, { "dbops:cluster" = var.name })
}

resource "aws_db_subnet_group" "this" {
  name        = "${var.name}-subnets"
  description = "Subnets of Aurora cluster ${var.name}"
  subnet_ids  = var.subnet_ids
  tags        = local.tags
}

resource "aws_security_group" "this" {
  name        = "${var.name}-aurora"
  description = "PostgreSQL access to Aurora cluster ${var.name}"
  vpc_id      = var.vpc_id
  tags        = local.tags
}

resource "aws_security_group_rule" "from_security_groups" {
  for_each = toset(var.allowed_security_group_ids)

  type                     = "ingress"
  description              = "PostgreSQL from ${each.value}"
  from_port                = var.port
  to_port                  = var.port
  protocol                 = "tcp"
  source_security_group_id = each.value
  security_group_id        = aws_security_group.this.id
}

resource "aws_security_group_rule" "from_cidrs" {
  count = length(var.allowed_cidr_blocks) > 0 ? 1 : 0

  type              = "ingress"
  description       = "PostgreSQL from allowed CIDR blocks"
  from_port         = var.port
  to_port           = var.port
  protocol          = "tcp"
  cidr_blocks       = var.allowed_cidr_blocks
  security_group_id = aws_security_group.this.id
}

resource "aws_rds_cluster_parameter_group" "this" {
  name        = "${var.name}-cluster"
  family      = local.family
  description = "Cluster parameters of ${var.name}: TLS only, connection and statement logging"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_connections"
    value = "1"
  }

  parameter {
    name  = "log_disconnections"
    value = "1"
  }

  parameter {
    name  = "log_statement"
    value = var.log_statement
  }

  parameter {
    name  = "log_min_duration_statement"
    value = tostring(var.log_min_duration_statement_ms)
  }

  # pg_stat_statements, which `dbops query audit` reads (CREATE EXTENSION pg_stat_statements once
  # in each database). Loading it takes a reboot; utility statements are not tracked, since
  # PostgreSQL keeps their text as written (ALTER ROLE ... PASSWORD included).
  parameter {
    name         = "shared_preload_libraries"
    value        = "pg_stat_statements"
    apply_method = "pending-reboot"
  }

  parameter {
    name  = "pg_stat_statements.track_utility"
    value = "0"
  }

  tags = local.tags
}

resource "aws_db_parameter_group" "this" {
  name        = "${var.name}-instance"
  family      = local.family
  description = "Instance parameters of ${var.name}: lock waits and temp files logged"

  parameter {
    name  = "log_lock_waits"
    value = "1"
  }

  parameter {
    name  = "log_temp_files"
    value = tostring(var.log_temp_files_kb)
  }

  tags = local.tags
}

resource "aws_iam_role" "monitoring" {
  name = "${var.name}-rds-monitoring"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "monitoring.rds.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = local.tags
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  role       = aws_iam_role.monitoring.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

# RDS writes the exported PostgreSQL log to this group. Created here, before the cluster,
# so it has a retention and the CMK; left to RDS it would be created on the first export
# with neither, and kept forever.
resource "aws_cloudwatch_log_group" "postgresql" {
  name              = "/aws/rds/cluster/${var.name}/postgresql"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = local.tags
}

resource "aws_rds_cluster" "this" {
  #checkov:skip=CKV2_AWS_8:AWS Backup selects this cluster by its backup tag (module backup); checkov only follows ARN-based selections
  #checkov:skip=CKV_AWS_139:deletion_protection defaults to true; only envs/lab turns it off so the lab can be destroyed
  cluster_identifier                  = var.name
  engine                              = var.engine
  engine_version                      = var.engine_version
  database_name                       = var.database_name
  master_username                     = var.master_username
  master_password                     = var.master_password
  port                                = var.port
  db_subnet_group_name                = aws_db_subnet_group.this.name
  vpc_security_group_ids              = [aws_security_group.this.id]
  db_cluster_parameter_group_name     = aws_rds_cluster_parameter_group.this.name
  availability_zones                  = length(var.availability_zones) == 0 ? null : var.availability_zones
  storage_encrypted                   = true
  kms_key_id                          = var.kms_key_arn
  backup_retention_period             = var.backup_retention_days
  preferred_backup_window             = var.backup_window
  preferred_maintenance_window        = var.maintenance_window
  deletion_protection                 = var.deletion_protection
  copy_tags_to_snapshot               = true
  iam_database_authentication_enabled = true
  enabled_cloudwatch_logs_exports     = ["postgresql"]
  skip_final_snapshot                 = var.skip_final_snapshot
  # Unique per cluster: the UTC time the cluster was created, kept from then on by
  # ignore_changes below. A constant name would collide with the snapshot of the previous
  # destroy; a fresh timestamp on every plan would be a perpetual diff. It is set even when
  # skip_final_snapshot is true, so turning final snapshots on later finds a name in state.
  final_snapshot_identifier = "${var.name}-final-${formatdate("YYYYMMDDhhmmss", timestamp())}"
  tags                      = merge(local.tags, var.backup_tags)

  lifecycle {
    ignore_changes = [
      availability_zones,
      final_snapshot_identifier,
      # engine_version is the version the cluster is created with. Minor versions then
      # follow AWS (auto_minor_version_upgrade on the instances): provider 3.x stores the
      # running version and has no engine_version_actual to compare with, so a pinned
      # minor would plan a downgrade after every upgrade (terraform-aws-modules leaves the
      # same drift to the 5.x provider's prefix matching, which 3.x lacks).
      engine_version,
    ]
  }

  depends_on = [aws_cloudwatch_log_group.postgresql]
}

resource "aws_rds_cluster_instance" "this" {
  for_each = local.instances

  identifier                      = "${var.name}-${each.key}"
  cluster_identifier              = aws_rds_cluster.this.id
  engine                          = aws_rds_cluster.this.engine
  instance_class                  = var.instance_class
  db_parameter_group_name         = aws_db_parameter_group.this.name
  db_subnet_group_name            = aws_db_subnet_group.this.name
  promotion_tier                  = each.value.promotion_tier
  availability_zone               = each.value.availability_zone
  publicly_accessible             = false
  auto_minor_version_upgrade      = true
  copy_tags_to_snapshot           = true
  performance_insights_enabled    = true
  performance_insights_kms_key_id = var.kms_key_arn
  monitoring_interval             = var.monitoring_interval
  monitoring_role_arn             = aws_iam_role.monitoring.arn
  tags                            = local.tags

  depends_on = [aws_iam_role_policy_attachment.monitoring]
}

resource "aws_secretsmanager_secret" "master" {
  #checkov:skip=CKV2_AWS_57:rotation needs a rotation Lambda inside the VPC; rotate with RDS-managed secrets (provider >= 4.x, see terraform/README.md)
  name                    = "${var.name}/master"
  description             = "Master credentials of Aurora cluster ${var.name}"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = local.tags
}

resource "aws_secretsmanager_secret_version" "master" {
  secret_id = aws_secretsmanager_secret.master.id
  secret_string = jsonencode({
    engine   = "postgres"
    host     = aws_rds_cluster.this.endpoint
    port     = var.port
    dbname   = var.database_name
    username = var.master_username
    password = var.master_password
  })
}
