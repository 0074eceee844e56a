//! `ShareSecret` over Secrets Manager.

use aws_sdk_secretsmanager::Client;

use super::classify;
use crate::ports::{AwsError, ShareSecret};

/// The stack's share secret (`SHARE_SECRET_ARN`): one `GetSecretValue`.
#[derive(Clone, Debug)]
pub struct SecretsManagerSecret {
    client: Client,
    arn: String,
}

impl SecretsManagerSecret {
    pub fn new(sdk: &aws_config::SdkConfig, arn: &str) -> SecretsManagerSecret {
        SecretsManagerSecret {
            client: Client::new(sdk),
            arn: arn.to_string(),
        }
    }
}

impl ShareSecret for SecretsManagerSecret {
    async fn read(&self) -> Result<Vec<u8>, AwsError> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(&self.arn)
            .send()
            .await
            .map_err(|e| classify("secretsmanager:GetSecretValue", e))?;
        match (output.secret_string, output.secret_binary) {
            (Some(text), _) => Ok(text.into_bytes()),
            (None, Some(blob)) => Ok(blob.into_inner()),
            (None, None) => Err(AwsError::Rejected {
                call: "secretsmanager:GetSecretValue",
                message: "the share secret has no value".into(),
            }),
        }
    }
}
