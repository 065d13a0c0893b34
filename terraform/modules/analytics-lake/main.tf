# The analytics lake of the estate: a CMK, the bucket the export publishes Parquet to, the Glue
# database its tables are registered in and the Athena workgroup that queries them, with a cap
# on the bytes one query may scan. The IAM the export needs is an output, attached by the caller
# to whatever runs the export (the module owns no principal).

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  tags      = merge(var.tags, { "dbops:component" = "analytics-lake" })

  bucket_arn    = "arn:${local.partition}:s3:::${var.bucket_name}"
  prefixes      = [var.data_prefix, var.staging_prefix, var.results_prefix]
  glue_arn      = "arn:${local.partition}:glue:${local.region}:${var.account_id}"
  workgroup_arn = "arn:${local.partition}:athena:${local.region}:${var.account_id}:workgroup/${var.name}"
}

module "kms" {
  source = "../kms"

  alias                   = var.name
  description             = "Encrypts the ${var.name} analytics lake: its objects and Athena's query results"
  account_id              = var.account_id
  deletion_window_in_days = var.key_deletion_window_in_days
  tags                    = local.tags
}

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:access logging needs a second bucket; CloudTrail data events cover access to the lake, as to the state bucket
  #checkov:skip=CKV_AWS_144:the lake is rebuilt from the estate's databases at any point in their PITR window; cross-region replication is left to the account
  #checkov:skip=CKV2_AWS_62:the export publishes a batch by writing its manifest last and reads it back itself; nothing consumes bucket events
  bucket        = var.bucket_name
  force_destroy = var.force_destroy
  tags          = local.tags

  versioning {
    enabled = true
  }

  server_side_encryption_configuration {
    rule {
      apply_server_side_encryption_by_default {
        sse_algorithm     = "aws:kms"
        kms_master_key_id = module.kms.key_arn
      }
      # One data key per bucket rather than per object: far fewer KMS requests for many small files.
      bucket_key_enabled = true
    }
  }

  # Old versions are the window to undo a bad publish (a pruned batch's files and manifest become old
  # versions); killed runs leave multipart uploads behind. A delete marker whose versions have all expired
  # is removed too: it would otherwise stay forever and slow every listing of its prefix.
  lifecycle_rule {
    id                                     = "noncurrent-versions-and-incomplete-uploads"
    enabled                                = true
    abort_incomplete_multipart_upload_days = var.abort_incomplete_multipart_upload_days

    expiration {
      expired_object_delete_marker = true
    }

    noncurrent_version_expiration {
      days = var.noncurrent_version_expiration_days
    }
  }

  # A pipeline's DynamoDB exports (PREFIX/_exports/) are read once, into the batch they build.
  dynamic "lifecycle_rule" {
    for_each = toset(var.pipeline_prefixes)
    content {
      id      = "exports-${replace(lifecycle_rule.value, "/", "-")}"
      enabled = true
      prefix  = "${lifecycle_rule.value}/_exports/"

      expiration {
        days = var.export_expiration_days
      }
    }
  }

  # A quarantined batch (PREFIX/_quarantine/) is kept as long as someone may look into why it was refused.
  dynamic "lifecycle_rule" {
    for_each = toset(var.pipeline_prefixes)
    content {
      id      = "quarantine-${replace(lifecycle_rule.value, "/", "-")}"
      enabled = true
      prefix  = "${lifecycle_rule.value}/_quarantine/"

      expiration {
        days = var.quarantine_expiration_days
      }
    }
  }

  # A batch lives under staging only until its manifest publishes it; what is left there is a dead run's.
  lifecycle_rule {
    id      = "staging"
    enabled = true
    prefix  = "${var.staging_prefix}/"

    expiration {
      days = var.transient_expiration_days
    }
  }

  # Athena writes every query's result here; nothing reads one after its query returned.
  lifecycle_rule {
    id      = "athena-results"
    enabled = true
    prefix  = "${var.results_prefix}/"

    expiration {
      days = var.transient_expiration_days
    }
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "TlsOnly"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })

  depends_on = [aws_s3_bucket_public_access_block.this]
}

resource "aws_glue_catalog_database" "this" {
  # Explicit: a provider that skips the account id lookup would otherwise send an empty catalog id.
  catalog_id  = var.account_id
  name        = var.database_name
  description = "Tables of the ${var.name} analytics lake (Parquet under s3://${var.bucket_name}/${var.data_prefix}/)"
}

resource "aws_athena_workgroup" "this" {
  name          = var.name
  description   = "Queries over the ${var.name} analytics lake, each capped at ${var.bytes_scanned_cutoff_per_query} bytes scanned"
  force_destroy = var.force_destroy
  tags          = local.tags

  configuration {
    # Clients cannot override the output location, its encryption or the cutoff.
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.bytes_scanned_cutoff_per_query

    result_configuration {
      output_location = "s3://${aws_s3_bucket.this.id}/${var.results_prefix}/"

      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = module.kms.key_arn
      }
    }
  }
}

locals {
  export_table_statements = length(var.export_table_arns) == 0 ? [] : [
    {
      Sid      = "ExportTables"
      Effect   = "Allow"
      Action   = ["dynamodb:ExportTableToPointInTime", "dynamodb:DescribeTable", "dynamodb:DescribeContinuousBackups"]
      Resource = var.export_table_arns
    },
    {
      Sid      = "DescribeExports"
      Effect   = "Allow"
      Action   = ["dynamodb:DescribeExport"]
      Resource = [for arn in var.export_table_arns : "${arn}/export/*"]
    },
  ]

  # What the export calls, on the lake's resources only: the bucket's three prefixes, its key,
  # the database's tables and partitions, the workgroup, and the estate's tables' exports.
  export_policy = {
    Version = "2012-10-17"
    Statement = concat([
      {
        Sid       = "ListLakePrefixes"
        Effect    = "Allow"
        Action    = ["s3:ListBucket", "s3:ListBucketMultipartUploads"]
        Resource  = [local.bucket_arn]
        Condition = { StringLike = { "s3:prefix" = [for p in local.prefixes : "${p}/*"] } }
      },
      {
        # Athena reads the bucket's region before it reads or writes under it.
        Sid      = "LocateLakeBucket"
        Effect   = "Allow"
        Action   = ["s3:GetBucketLocation"]
        Resource = [local.bucket_arn]
      },
      {
        # PutObjectAcl: DynamoDB writes its export files as the caller and sets their ACL.
        Sid      = "LakeObjects"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject", "s3:PutObjectAcl", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
        Resource = [for p in local.prefixes : "${local.bucket_arn}/${p}/*"]
      },
      {
        Sid      = "LakeKey"
        Effect   = "Allow"
        Action   = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
        Resource = [module.kms.key_arn]
      },
      {
        Sid    = "LakeCatalog"
        Effect = "Allow"
        Action = [
          "glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:CreateTable", "glue:UpdateTable",
          "glue:GetPartition", "glue:GetPartitions", "glue:BatchGetPartition", "glue:CreatePartition",
          "glue:BatchCreatePartition", "glue:UpdatePartition", "glue:BatchUpdatePartition", "glue:DeletePartition",
          "glue:BatchDeletePartition",
        ]
        Resource = [
          "${local.glue_arn}:catalog",
          "${local.glue_arn}:database/${var.database_name}",
          "${local.glue_arn}:table/${var.database_name}/*",
        ]
      },
      {
        Sid      = "LakeWorkgroup"
        Effect   = "Allow"
        Action   = ["athena:GetWorkGroup", "athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults", "athena:StopQueryExecution"]
        Resource = [local.workgroup_arn]
      },
    ], local.export_table_statements)
  }
}
