variable "name" {
  description = "Name of the lake: the KMS alias (alias/NAME) and the Athena workgroup."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9._-]{1,128}$", var.name))
    error_message = "The name must be 1-128 letters, digits, ., _ or - (an Athena workgroup name)."
  }
}

variable "account_id" {
  description = "AWS account id of the lake: its root administers the key; the export policy names its resources."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "The account_id must be 12 digits."
  }
}

variable "bucket_name" {
  description = "Name of the lake's S3 bucket (globally unique)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "The bucket_name must be 3-63 lower-case letters, digits or - (no dots: TLS to virtual-hosted buckets), starting and ending with a letter or digit."
  }
}

variable "database_name" {
  description = "Name of the Glue Data Catalog database of the lake's tables."
  type        = string

  validation {
    # Athena reads only lower-case names of letters, digits and underscores.
    condition     = can(regex("^[a-z0-9_]{1,255}$", var.database_name))
    error_message = "The database_name must be 1-255 lower-case letters, digits or _ (what Athena can query)."
  }
}

variable "data_prefix" {
  description = "Prefix of the published tables: s3://BUCKET/DATA_PREFIX/TABLE/data/PARTCOL=VALUE/*.parquet."
  type        = string
  default     = "lake"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]*$", var.data_prefix))
    error_message = "The data_prefix must be lower-case letters, digits, _ or -, without slashes."
  }
}

variable "staging_prefix" {
  description = "Prefix where batches (and DynamoDB exports) are written before their manifest publishes them; expires after transient_expiration_days."
  type        = string
  default     = "staging"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]*$", var.staging_prefix))
    error_message = "The staging_prefix must be lower-case letters, digits, _ or -, without slashes."
  }
}

variable "results_prefix" {
  description = "Prefix of the Athena workgroup's query results; expires after transient_expiration_days."
  type        = string
  default     = "athena-results"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]*$", var.results_prefix))
    error_message = "The results_prefix must be lower-case letters, digits, _ or -, without slashes."
  }
}

variable "transient_expiration_days" {
  description = "Days before objects under the staging and results prefixes expire."
  type        = number
  default     = 3

  validation {
    condition     = var.transient_expiration_days >= 1 && var.transient_expiration_days <= 30 && floor(var.transient_expiration_days) == var.transient_expiration_days
    error_message = "The transient_expiration_days must be a whole number of days between 1 and 30."
  }
}

variable "pipeline_prefixes" {
  description = "The destination.prefix of each pipeline writing to the lake, as dbops.toml declares it (e.g. \"lake/orders\"): its DynamoDB exports expire after export_expiration_days, its quarantined batches after quarantine_expiration_days."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.pipeline_prefixes : can(regex("^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$", p))])
    error_message = "The pipeline_prefixes must each be a key prefix like lake/orders (no leading or trailing /)."
  }
}

variable "export_expiration_days" {
  description = "Days before a pipeline's DynamoDB export files (PREFIX/_exports/) expire: each is read once, into its batch."
  type        = number
  default     = 7

  validation {
    condition     = var.export_expiration_days >= 1 && var.export_expiration_days <= 365 && floor(var.export_expiration_days) == var.export_expiration_days
    error_message = "The export_expiration_days must be a whole number of days between 1 and 365."
  }
}

variable "quarantine_expiration_days" {
  description = "Days before a pipeline's quarantined batches (PREFIX/_quarantine/, with their verdicts) expire."
  type        = number
  default     = 30

  validation {
    condition     = var.quarantine_expiration_days >= 1 && var.quarantine_expiration_days <= 365 && floor(var.quarantine_expiration_days) == var.quarantine_expiration_days
    error_message = "The quarantine_expiration_days must be a whole number of days between 1 and 365."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days a replaced or deleted object's old version is kept (the window to undo a bad publish)."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && var.noncurrent_version_expiration_days <= 365 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "The noncurrent_version_expiration_days must be a whole number of days between 1 and 365."
  }
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days before an unfinished multipart upload (a killed run's) is aborted and its parts deleted."
  type        = number
  default     = 2

  validation {
    condition     = var.abort_incomplete_multipart_upload_days >= 1 && var.abort_incomplete_multipart_upload_days <= 30 && floor(var.abort_incomplete_multipart_upload_days) == var.abort_incomplete_multipart_upload_days
    error_message = "The abort_incomplete_multipart_upload_days must be a whole number of days between 1 and 30."
  }
}

variable "bytes_scanned_cutoff_per_query" {
  description = "Athena cancels a query of the workgroup that scans more bytes than this (cost guardrail; billed up to it)."
  type        = number
  default     = 1073741824 # 1 GiB

  validation {
    # Athena's minimum cutoff is 10 MB.
    condition     = var.bytes_scanned_cutoff_per_query >= 10485760 && floor(var.bytes_scanned_cutoff_per_query) == var.bytes_scanned_cutoff_per_query
    error_message = "The bytes_scanned_cutoff_per_query must be a whole number of bytes, at least 10485760 (10 MB, Athena's minimum)."
  }
}

variable "export_table_arns" {
  description = "ARNs of the DynamoDB tables the export reads with ExportTableToPointInTime (PITR must be on)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.export_table_arns : can(regex("^arn:[a-z-]+:dynamodb:[a-z0-9-]+:[0-9]{12}:table/[A-Za-z0-9_.-]{3,255}$", arn))])
    error_message = "Each export_table_arns entry must be a DynamoDB table ARN (arn:PARTITION:dynamodb:REGION:ACCOUNT:table/NAME)."
  }
}

variable "force_destroy" {
  description = "Let Terraform delete the bucket with its objects and the workgroup with its queries (lab only)."
  type        = bool
  default     = false
}

variable "key_deletion_window_in_days" {
  description = "Days before a scheduled deletion of the lake's key takes effect."
  type        = number
  default     = 30

  validation {
    condition     = var.key_deletion_window_in_days >= 7 && var.key_deletion_window_in_days <= 30
    error_message = "The key_deletion_window_in_days must be between 7 and 30."
  }
}

variable "tags" {
  description = "Tags for the lake's resources (the module adds dbops:component = analytics-lake)."
  type        = map(string)
  default     = {}
}
