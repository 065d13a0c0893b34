# An RDS Proxy in front of one Aurora PostgreSQL cluster: the proxy (TLS required, clients
# authenticate with the credentials of the cluster's master secret), its default target group
# with the connection pool settings, the cluster registered as its target, an IAM role that
# may read that one secret and nothing else, and the proxy's security group.

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  tags = merge(var.tags, { "dbops:proxy" = var.name })

  # RDS Proxy listens on the engine family's default port whatever port the cluster uses.
  proxy_port = 5432

  # What RDS Proxy needs to fetch the credentials (AWS documents exactly these two statements):
  # the secret's value, and the key that encrypts it, used only through Secrets Manager.
  secret_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ReadTheMasterSecret"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = var.secret_arn
      },
      {
        Sid      = "DecryptTheMasterSecretThroughSecretsManager"
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = var.kms_key_arn
        Condition = {
          StringEquals = {
            "kms:ViaService" = "secretsmanager.${data.aws_region.current.name}.${data.aws_partition.current.dns_suffix}"
          }
        }
      },
    ]
  }
}

resource "aws_iam_role" "this" {
  name        = "${var.name}-role"
  description = "Lets RDS Proxy ${var.name} read the master secret of its cluster"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "rds.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = local.tags
}

resource "aws_iam_role_policy" "secret" {
  name   = "read-master-secret"
  role   = aws_iam_role.this.id
  policy = jsonencode(local.secret_policy)
}

# One group for both directions, as RDS Proxy uses it: clients in, the proxy out to the cluster.
resource "aws_security_group" "this" {
  #checkov:skip=CKV2_AWS_5:attached to aws_db_proxy.this (vpc_security_group_ids); the check does not count aws_db_proxy among the resources that use security groups
  name        = var.name
  description = "PostgreSQL to RDS Proxy ${var.name} and from it to its cluster"
  vpc_id      = var.vpc_id
  tags        = local.tags
}

resource "aws_security_group_rule" "from_security_groups" {
  for_each = toset(var.allowed_security_group_ids)

  type                     = "ingress"
  description              = "PostgreSQL to the proxy from ${each.value}"
  from_port                = local.proxy_port
  to_port                  = local.proxy_port
  protocol                 = "tcp"
  source_security_group_id = each.value
  security_group_id        = aws_security_group.this.id
}

resource "aws_security_group_rule" "from_cidrs" {
  count = length(var.allowed_cidr_blocks) > 0 ? 1 : 0

  type              = "ingress"
  description       = "PostgreSQL to the proxy from allowed CIDR blocks"
  from_port         = local.proxy_port
  to_port           = local.proxy_port
  protocol          = "tcp"
  cidr_blocks       = var.allowed_cidr_blocks
  security_group_id = aws_security_group.this.id
}

resource "aws_security_group_rule" "to_cluster" {
  type                     = "egress"
  description              = "PostgreSQL from the proxy to its cluster"
  from_port                = var.db_port
  to_port                  = var.db_port
  protocol                 = "tcp"
  source_security_group_id = var.db_security_group_id
  security_group_id        = aws_security_group.this.id
}

# The cluster's own group must let the proxy in.
resource "aws_security_group_rule" "cluster_from_proxy" {
  type                     = "ingress"
  description              = "PostgreSQL from RDS Proxy ${var.name}"
  from_port                = var.db_port
  to_port                  = var.db_port
  protocol                 = "tcp"
  source_security_group_id = aws_security_group.this.id
  security_group_id        = var.db_security_group_id
}

resource "aws_db_proxy" "this" {
  name                   = var.name
  engine_family          = "POSTGRESQL"
  role_arn               = aws_iam_role.this.arn
  vpc_subnet_ids         = var.subnet_ids
  vpc_security_group_ids = [aws_security_group.this.id]
  require_tls            = true
  idle_client_timeout    = var.idle_client_timeout
  # Debug logging writes the SQL of every statement to CloudWatch Logs, bind values included.
  debug_logging = false

  auth {
    auth_scheme = "SECRETS"
    description = "Master credentials of the cluster"
    iam_auth    = var.iam_auth
    secret_arn  = var.secret_arn
  }

  tags = local.tags

  depends_on = [aws_iam_role_policy.secret]
}

resource "aws_db_proxy_default_target_group" "this" {
  db_proxy_name = aws_db_proxy.this.name

  connection_pool_config {
    max_connections_percent      = var.max_connections_percent
    max_idle_connections_percent = var.max_idle_connections_percent
    connection_borrow_timeout    = var.connection_borrow_timeout
  }
}

resource "aws_db_proxy_target" "this" {
  db_proxy_name         = aws_db_proxy.this.name
  target_group_name     = aws_db_proxy_default_target_group.this.name
  db_cluster_identifier = var.db_cluster_identifier
}
