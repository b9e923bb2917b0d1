from __future__ import annotations

from ..services import practice
from ..services.access import CONFIGURE
from .common import make_blueprint, principal
from .schemas.practice import RoomOut, RoomPatch

blp = make_blueprint("rooms", "Rooms (created under a clinic)", writes=CONFIGURE)


@blp.route("/rooms/<int:room_id>", methods=["GET"])
@blp.response(200, RoomOut)
def get_room(room_id):
    return practice.get_room(principal(), room_id)


@blp.route("/rooms/<int:room_id>", methods=["PATCH"])
@blp.arguments(RoomPatch)
@blp.response(200, RoomOut)
def update_room(data, room_id):
    return practice.update_room(principal(), room_id, data)


@blp.route("/rooms/<int:room_id>", methods=["DELETE"])
@blp.response(204)
def delete_room(room_id):
    practice.delete_room(principal(), room_id)
