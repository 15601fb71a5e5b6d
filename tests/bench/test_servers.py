"""bench.servers: reading a server's sockets from /proc."""

import os
import socket

from bench import servers


def inode(sock: socket.socket) -> str:
    return str(os.fstat(sock.fileno()).st_ino)


def test_port_sockets_and_socket_inodes_find_a_listener_and_its_connection() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)):
            accepted, _ = listener.accept()
            with accepted:
                listening, established = servers.port_sockets(port)
                held = servers.socket_inodes(os.getpid())
                expected = ({inode(listener)}, {inode(accepted)})  # the client's: another port

    assert (listening, established) == expected
    assert listening | established <= held
