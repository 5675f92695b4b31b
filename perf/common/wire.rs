//! A minimal blocking Kafka client for the perf tools: one connection, one
//! request at a time, kafka-protocol's types. Shared by the perf binaries
//! (`#[path]`-included), never by the broker.

use std::io::{Read, Write};
use std::net::TcpStream;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};

pub struct Conn {
    stream: TcpStream,
    correlation: i32,
}

impl Conn {
    pub fn open(addr: &str) -> Conn {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_nodelay(true).expect("nodelay");
        Conn {
            stream,
            correlation: 0,
        }
    }

    pub fn call<R: Request>(&mut self, version: i16, request: &R) -> R::Response {
        self.correlation += 1;
        let key = ApiKey::try_from(R::KEY).expect("known key");
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("fjord-perf")));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, key.request_header_version(version))
            .expect("header");
        request.encode(&mut body, version).expect("request");
        let mut frame = BytesMut::with_capacity(body.len() + 4);
        frame.put_i32(body.len() as i32);
        frame.put_slice(&body);
        self.stream.write_all(&frame).expect("send");
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).expect("response length");
        let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut buf).expect("response");
        let mut buf = Bytes::from(buf);
        let header =
            ResponseHeader::decode(&mut buf, key.response_header_version(version)).expect("header");
        assert_eq!(header.correlation_id, self.correlation);
        R::Response::decode(&mut buf, version).expect("response body")
    }
}

pub fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

/// Creates `topic` (an existing one is fine) with topic `configs`.
pub fn create_topic(addr: &str, topic: &str, partitions: i32, configs: &[(&str, &str)]) {
    let configs = configs
        .iter()
        .map(|(k, v)| {
            CreatableTopicConfig::default()
                .with_name(s(k))
                .with_value(Some(s(v)))
        })
        .collect();
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(s(topic)))
            .with_num_partitions(partitions)
            .with_replication_factor(1)
            .with_configs(configs)]);
    let response = Conn::open(addr).call(4, &request);
    let code = response.topics[0].error_code;
    assert!(code == 0 || code == 36, "create {topic}: error {code}");
}
