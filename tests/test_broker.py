"""config.broker: losing Redis with messages in flight never stops a worker (a redis-server of the test's own)."""

import logging

import pytest
from kombu import Connection, Exchange, Queue
from redis import exceptions as redis_exceptions

from tests.processes import RedisServer


@pytest.fixture
def redis_server():
    server = RedisServer().start()
    yield server
    server.stop()


def connect(server: RedisServer) -> Connection:
    options = {"socket_timeout": 1, "socket_connect_timeout": 1}
    return Connection(server.url, transport="config.broker:Transport", transport_options=options)


def publish_two(connection: Connection) -> Queue:
    queue = Queue("work", Exchange("work"), "work")
    with connection.Producer() as producer:
        for n in (1, 2):
            producer.publish({"n": n}, exchange=queue.exchange, routing_key="work", declare=[queue])
    return queue


def test_the_settings_use_this_transport_for_a_redis_broker(settings):
    from config.celery import app

    if not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("this run has no Redis broker")
    assert app.conf.broker_transport == "config.broker:Transport"
    assert type(app.connection_for_write().transport).__module__ == "config.broker"


def test_a_channel_of_a_closed_connection_raises_a_connection_error(redis_server):
    """Celery recovers from connection errors; kombu's own transport raised AttributeError here (on an ack of a
    message whose channel was closed by a reconnect), and the worker exited."""
    connection = connect(redis_server)
    publish_two(connection)
    channel = connection.channel()
    message = channel.message_to_python(channel.basic_get("work", no_ack=False))
    connection.transport.client = None  # what closing the connection leaves behind
    channel._pool = None
    with pytest.raises(redis_exceptions.ConnectionError):
        message.ack()
    assert isinstance(redis_exceptions.ConnectionError(), connection.connection_errors)
    channel.close()  # the unacked message cannot be put back either: logged, not raised
    assert channel.closed


def test_closing_with_unacked_messages_and_redis_gone_completes(redis_server, caplog):
    connection = connect(redis_server)
    publish_two(connection)
    channel = connection.channel()
    for _ in range(2):
        channel.basic_get("work", no_ack=False)
    redis_server.kill()
    with caplog.at_level(logging.WARNING, logger="config.broker"):
        channel.close()  # puts the two back: impossible, and no reason to stop
    assert channel.closed
    assert not channel.qos._delivered
    assert "Could not put 2 unacknowledged message(s) back in Redis" in caplog.text


def test_closing_with_unacked_messages_puts_them_back_while_redis_answers(redis_server):
    connection = connect(redis_server)
    queue = publish_two(connection)
    channel = connection.channel()
    for _ in range(2):
        channel.basic_get("work", no_ack=False)
    channel.close()
    with connect(redis_server) as again:
        assert queue(again.channel()).queue_declare(passive=True).message_count == 2
