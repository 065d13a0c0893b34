variable "name" {
  description = "Name of the proxy; also the name of its security group and the prefix of its IAM role."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,58}$", var.name)) && !can(regex("--|-$", var.name))
    error_message = "The name must start with a letter, hold only lowercase letters, digits and single hyphens, not end with a hyphen, and be at most 59 characters."
  }
}

variable "db_cluster_identifier" {
  description = "Identifier of the Aurora PostgreSQL cluster the proxy fronts (its writer and readers)."
  type        = string
}

variable "secret_arn" {
  description = "ARN of the Secrets Manager secret holding the cluster's master credentials (username and password); the proxy logs in to the cluster with it and checks client passwords against it."
  type        = string

  validation {
    condition     = can(regex("^arn:[a-z-]+:secretsmanager:", var.secret_arn))
    error_message = "The secret_arn must be the ARN of a Secrets Manager secret."
  }
}

variable "kms_key_arn" {
  description = "ARN of the KMS key that encrypts the secret; the proxy's role may decrypt with it only through Secrets Manager."
  type        = string

  validation {
    condition     = can(regex("^arn:[a-z-]+:kms:", var.kms_key_arn))
    error_message = "The kms_key_arn must be the ARN of a KMS key."
  }
}

variable "vpc_id" {
  description = "VPC of the cluster; the proxy's security group is created in it."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets of the proxy, in at least two AZs (the cluster's subnets will do)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "The subnet_ids must name at least two subnets."
  }
}

variable "db_security_group_id" {
  description = "Security group of the cluster; the module adds a rule letting the proxy in on db_port."
  type        = string
}

variable "db_port" {
  description = "Port the cluster listens on (the proxy itself always listens on 5432)."
  type        = number
  default     = 5432

  validation {
    condition     = var.db_port >= 1150 && var.db_port <= 65535 && floor(var.db_port) == var.db_port
    error_message = "The db_port must be a whole number from 1150 to 65535."
  }
}

variable "allowed_security_group_ids" {
  description = "Security groups whose members may connect to the proxy."
  type        = list(string)
  default     = []
}

variable "allowed_cidr_blocks" {
  description = "CIDR blocks that may connect to the proxy."
  type        = list(string)
  default     = []

  validation {
    condition     = !contains(var.allowed_cidr_blocks, "0.0.0.0/0")
    error_message = "The allowed_cidr_blocks must not contain 0.0.0.0/0."
  }
}

variable "iam_auth" {
  description = "DISABLED: clients log in to the proxy with the master secret's user name and password (over TLS, which the proxy requires). REQUIRED: clients must present an IAM authentication token instead and no password login is accepted."
  type        = string
  default     = "DISABLED"

  validation {
    condition     = contains(["DISABLED", "REQUIRED"], var.iam_auth)
    error_message = "The iam_auth must be DISABLED or REQUIRED."
  }
}

variable "idle_client_timeout" {
  description = "Seconds a client connection may stay idle before the proxy closes it (1 to 28800)."
  type        = number
  default     = 1800

  validation {
    condition     = var.idle_client_timeout >= 1 && var.idle_client_timeout <= 28800 && floor(var.idle_client_timeout) == var.idle_client_timeout
    error_message = "The idle_client_timeout must be a whole number of seconds from 1 to 28800."
  }
}

variable "max_connections_percent" {
  description = "Largest pool, as a percentage of the cluster's max_connections (1 to 100); below 100 leaves connections for clients that bypass the proxy (administrators, dbops' probes)."
  type        = number
  default     = 90

  validation {
    condition     = var.max_connections_percent >= 1 && var.max_connections_percent <= 100 && floor(var.max_connections_percent) == var.max_connections_percent
    error_message = "The max_connections_percent must be a whole number from 1 to 100."
  }
}

variable "max_idle_connections_percent" {
  description = "Idle connections the proxy keeps open, as a percentage of the cluster's max_connections (0 to 100, and at most max_connections_percent, which AWS checks when the target group is modified)."
  type        = number
  default     = 45

  validation {
    condition     = var.max_idle_connections_percent >= 0 && var.max_idle_connections_percent <= 100 && floor(var.max_idle_connections_percent) == var.max_idle_connections_percent
    error_message = "The max_idle_connections_percent must be a whole number from 0 to 100."
  }
}

variable "connection_borrow_timeout" {
  description = "Seconds a client waits for a pooled connection when the pool is exhausted before it gets an error (0 to 3600)."
  type        = number
  default     = 120

  validation {
    condition     = var.connection_borrow_timeout >= 0 && var.connection_borrow_timeout <= 3600 && floor(var.connection_borrow_timeout) == var.connection_borrow_timeout
    error_message = "The connection_borrow_timeout must be a whole number of seconds from 0 to 3600."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
