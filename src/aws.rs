//! The one AWS SDK configuration loader: the standard environment (`AWS_ENDPOINT_URL`, region,
//! credentials, profile), with the config's region when it names one.

/// Loads the shared SDK config every AWS client (SQS, Athena, Glue) is built from.
pub async fn sdk_config(region: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r.to_string()));
    }
    loader.load().await
}

/// An SQS client from [`sdk_config`].
pub async fn sqs_client(region: Option<&str>) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&sdk_config(region).await)
}

/// An Athena client from [`sdk_config`].
pub async fn athena_client(region: Option<&str>) -> aws_sdk_athena::Client {
    aws_sdk_athena::Client::new(&sdk_config(region).await)
}
