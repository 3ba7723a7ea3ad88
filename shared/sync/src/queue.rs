//! Outbox ids over SQS: the message format, the publisher, the local SQS loop (being written).
