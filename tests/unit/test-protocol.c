/* test-protocol.c — parsing, validation and building of protocol messages
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <string.h>

#include <json-glib/json-glib.h>

#include "kaigi-protocol.h"

typedef struct
{
  const char *json;
  KaigiProtocolError code;
} Rejection;

static const Rejection rejections[] = {
  { "", KAIGI_PROTOCOL_ERROR_INVALID_JSON },
  { "not json", KAIGI_PROTOCOL_ERROR_INVALID_JSON },
  { "[1,2]", KAIGI_PROTOCOL_ERROR_INVALID_JSON },
  { "\"join\"", KAIGI_PROTOCOL_ERROR_INVALID_JSON },
  { "{\"type\":\"join\",\"room\":\"a\"", KAIGI_PROTOCOL_ERROR_INVALID_JSON },
  { "{}", KAIGI_PROTOCOL_ERROR_UNKNOWN_TYPE },
  { "{\"type\":42}", KAIGI_PROTOCOL_ERROR_UNKNOWN_TYPE },
  { "{\"type\":\"dance\"}", KAIGI_PROTOCOL_ERROR_UNKNOWN_TYPE },
  { "{\"type\":\"chat\",\"text\":\"hi\"}", KAIGI_PROTOCOL_ERROR_UNKNOWN_TYPE },
  { "{\"type\":\"join\",\"name\":\"a\"}", KAIGI_PROTOCOL_ERROR_MISSING_FIELD },
  { "{\"type\":\"join\",\"room\":\"r\"}", KAIGI_PROTOCOL_ERROR_MISSING_FIELD },
  { "{\"type\":\"join\",\"room\":1,\"name\":\"a\"}", KAIGI_PROTOCOL_ERROR_INVALID_FIELD },
  { "{\"type\":\"join\",\"room\":\"r\",\"name\":\"a\",\"audio\":\"yes\"}", KAIGI_PROTOCOL_ERROR_INVALID_FIELD },
  { "{\"type\":\"join\",\"room\":\"r\",\"name\":\"a\",\"version\":2}", KAIGI_PROTOCOL_ERROR_UNSUPPORTED_VERSION },
  { "{\"type\":\"join\",\"room\":\"a/b\",\"name\":\"a\"}", KAIGI_PROTOCOL_ERROR_INVALID_ROOM_NAME },
  { "{\"type\":\"join\",\"room\":\"\",\"name\":\"a\"}", KAIGI_PROTOCOL_ERROR_INVALID_ROOM_NAME },
  { "{\"type\":\"join\",\"room\":\"r\",\"name\":\"a\\u0007\"}", KAIGI_PROTOCOL_ERROR_INVALID_NAME },
  { "{\"type\":\"join\",\"room\":\"r\",\"name\":\" a\"}", KAIGI_PROTOCOL_ERROR_INVALID_NAME },
  { "{\"type\":\"join\",\"room\":\"r\",\"name\":\"a\",\"video_codecs\":\"VP8\"}", KAIGI_PROTOCOL_ERROR_INVALID_FIELD },
  { "{\"type\":\"join\",\"room\":\"r\",\"name\":\"a\",\"video_codecs\":[\"VP8\",1]}", KAIGI_PROTOCOL_ERROR_INVALID_FIELD },
  { "{\"type\":\"join\",\"room\":\"r\",\"name\":\"a\",\"video_codecs\":[\"\"]}", KAIGI_PROTOCOL_ERROR_INVALID_FIELD },
  { "{\"type\":\"join\",\"room\":\"r\",\"name\":\"a\",\"video_codecs\":[null]}", KAIGI_PROTOCOL_ERROR_INVALID_FIELD },
  { "{\"type\":\"join\",\"room\":\"r\",\"name\":\"a\",\"video_codecs\":[\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]}", KAIGI_PROTOCOL_ERROR_INVALID_FIELD },
  { "{\"type\":\"join\",\"room\":\"r\",\"name\":\"a\",\"video_codecs\":[\"VP8VP8VP8VP8VP8VP8VP8VP8VP8VP8VP8\"]}", KAIGI_PROTOCOL_ERROR_INVALID_FIELD },
  { "{\"type\":\"answer\"}", KAIGI_PROTOCOL_ERROR_MISSING_FIELD },
  { "{\"type\":\"answer\",\"sdp\":\"\"}", KAIGI_PROTOCOL_ERROR_INVALID_SDP },
  { "{\"type\":\"ice\",\"candidate\":\"c\"}", KAIGI_PROTOCOL_ERROR_MISSING_FIELD },
  { "{\"type\":\"ice\",\"candidate\":\"c\",\"sdpMLineIndex\":-1}", KAIGI_PROTOCOL_ERROR_INVALID_FIELD },
  { "{\"type\":\"ice\",\"candidate\":\"c\",\"sdpMLineIndex\":1.5}", KAIGI_PROTOCOL_ERROR_INVALID_FIELD },
  { "{\"type\":\"ice\",\"candidate\":\"c\",\"sdpMLineIndex\":70000}", KAIGI_PROTOCOL_ERROR_INVALID_FIELD },
  { "{\"type\":\"media\",\"audio\":true}", KAIGI_PROTOCOL_ERROR_MISSING_FIELD },
  { "{\"type\":\"media\",\"audio\":true,\"video\":null}", KAIGI_PROTOCOL_ERROR_INVALID_FIELD },
  { "{\"type\":\"pin\"}", KAIGI_PROTOCOL_ERROR_MISSING_FIELD },
  { "{\"type\":\"pin\",\"participant\":7}", KAIGI_PROTOCOL_ERROR_INVALID_FIELD },
  { "{\"type\":\"pin\",\"participant\":[\"a\"]}", KAIGI_PROTOCOL_ERROR_INVALID_FIELD },
  { "{\"type\":\"recording-begin\"}", KAIGI_PROTOCOL_ERROR_UNKNOWN_TYPE },
};

static void
test_rejections (void)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (rejections); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(KaigiMessage) message = NULL;
      g_autofree char *request = NULL;

      message = kaigi_protocol_parse (KAIGI_CHANNEL_SIGNALING, rejections[i].json,
                                      strlen (rejections[i].json), &request, &error);
      g_test_message ("%s → %s", rejections[i].json, error ? error->message : "(accepted)");
      g_assert_null (message);
      g_assert_error (error, KAIGI_PROTOCOL_ERROR, (int) rejections[i].code);
    }
}

static KaigiMessage *
parse_ok (KaigiChannel  channel,
          const char   *json)
{
  g_autoptr(GError) error = NULL;
  KaigiMessage *message = kaigi_protocol_parse (channel, json, strlen (json), NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (message);
  return message;
}

static void
test_join (void)
{
  g_autoptr(KaigiMessage) m = parse_ok (KAIGI_CHANNEL_SIGNALING,
                                        "{\"type\":\"join\",\"room\":\"会議室\",\"name\":\"花子\","
                                        "\"audio\":true,\"video\":false,\"extra\":[1,{}]}");

  g_assert_cmpint (m->type, ==, KAIGI_MSG_JOIN);
  g_assert_cmpstr (m->room, ==, "会議室");
  g_assert_cmpstr (m->name, ==, "花子");
  g_assert_cmpint (m->version, ==, 1);
  g_assert_true (m->audio);
  g_assert_false (m->video);
  g_assert_null (m->video_codecs);
}

static void
test_join_video_codecs (void)
{
  g_autoptr(KaigiMessage) m = parse_ok (KAIGI_CHANNEL_SIGNALING,
                                        "{\"type\":\"join\",\"room\":\"r\",\"name\":\"a\","
                                        "\"video_codecs\":[\"VP8\",\"AV1\"]}");
  g_autoptr(KaigiMessage) none = parse_ok (KAIGI_CHANNEL_SIGNALING,
                                           "{\"type\":\"join\",\"room\":\"r\",\"name\":\"a\","
                                           "\"video_codecs\":[]}");

  /* unknown codec names are kept: the server only forwards what it knows */
  g_assert_nonnull (m->video_codecs);
  g_assert_cmpuint (g_strv_length (m->video_codecs), ==, 2);
  g_assert_cmpstr (m->video_codecs[0], ==, "VP8");
  g_assert_cmpstr (m->video_codecs[1], ==, "AV1");
  /* an empty list: a client that decodes no video at all */
  g_assert_nonnull (none->video_codecs);
  g_assert_cmpuint (g_strv_length (none->video_codecs), ==, 0);
}

static void
test_other_messages (void)
{
  g_autoptr(KaigiMessage) answer = parse_ok (KAIGI_CHANNEL_SIGNALING, "{\"type\":\"answer\",\"sdp\":\"v=0\\r\\n\"}");
  g_autoptr(KaigiMessage) ice = parse_ok (KAIGI_CHANNEL_SIGNALING,
                                          "{\"type\":\"ice\",\"candidate\":\"candidate:1 1 udp 1 127.0.0.1 9 typ host\",\"sdpMLineIndex\":3,\"sdpMid\":\"x\"}");
  g_autoptr(KaigiMessage) media = parse_ok (KAIGI_CHANNEL_SIGNALING, "{\"type\":\"media\",\"audio\":false,\"video\":true}");
  g_autoptr(KaigiMessage) ping = parse_ok (KAIGI_CHANNEL_SIGNALING, "{\"type\":\"ping\"}");
  g_autoptr(KaigiMessage) leave = parse_ok (KAIGI_CHANNEL_SIGNALING, "{\"type\":\"leave\"}");
  g_autoptr(KaigiMessage) chat = parse_ok (KAIGI_CHANNEL_CHAT, "{\"type\":\"chat\",\"text\":\"こんにちは\"}");

  g_assert_cmpstr (answer->sdp, ==, "v=0\r\n");
  g_assert_cmpint (ice->mline_index, ==, 3);
  g_assert_cmpstr (ice->candidate, ==, "candidate:1 1 udp 1 127.0.0.1 9 typ host");
  g_assert_false (media->audio);
  g_assert_true (media->video);
  g_assert_cmpint (ping->type, ==, KAIGI_MSG_PING);
  g_assert_cmpint (leave->type, ==, KAIGI_MSG_LEAVE);
  g_assert_cmpstr (chat->text, ==, "こんにちは");
}

static void
test_chat_limits (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KaigiMessage) m = NULL;
  g_autoptr(GString) json = g_string_new ("{\"type\":\"chat\",\"text\":\"");
  guint i;

  for (i = 0; i <= KAIGI_PROTOCOL_MAX_CHAT_CHARS; i++)
    g_string_append (json, "あ");
  g_string_append (json, "\"}");

  m = kaigi_protocol_parse (KAIGI_CHANNEL_CHAT, json->str, json->len, NULL, &error);
  g_assert_null (m);
  g_assert_error (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_INVALID_FIELD);
  g_clear_error (&error);

  m = kaigi_protocol_parse (KAIGI_CHANNEL_CHAT, "{\"type\":\"chat\",\"text\":\"\"}", 25, NULL, &error);
  g_assert_null (m);
  g_assert_error (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_INVALID_FIELD);
  g_clear_error (&error);

  /* signaling messages are not accepted on the chat channel */
  m = kaigi_protocol_parse (KAIGI_CHANNEL_CHAT, "{\"type\":\"ping\"}", 15, NULL, &error);
  g_assert_null (m);
  g_assert_error (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_UNKNOWN_TYPE);
}

static void
test_depth (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KaigiMessage) m = NULL;
  g_autoptr(GString) deep = g_string_new ("{\"type\":\"ping\",\"x\":");
  g_autofree char *request = NULL;
  guint i;

  /* 100 000 levels crashed json-glib 1.6 in DESIGN.md's experiment */
  for (i = 0; i < 100000; i++)
    g_string_append_c (deep, '[');
  for (i = 0; i < 100000; i++)
    g_string_append_c (deep, ']');
  g_string_append_c (deep, '}');

  m = kaigi_protocol_parse (KAIGI_CHANNEL_SIGNALING, deep->str, deep->len, &request, &error);
  g_assert_null (m);
  g_assert_error (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_TOO_DEEP);
  g_clear_error (&error);

  /* brackets inside strings do not count, escapes are honoured */
  g_assert_true (kaigi_protocol_check_depth ("{\"a\":\"[[[[[[\\\"[[[[\"}", 19, 2, &error));
  g_assert_no_error (error);
  g_assert_true (kaigi_protocol_check_depth ("[[[]]]", 6, 3, NULL));
  g_assert_false (kaigi_protocol_check_depth ("[[[[]]]]", 8, 3, NULL));
}

static void
test_invalid_utf8 (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KaigiMessage) m = NULL;
  const char bad[] = "{\"type\":\"join\",\"room\":\"\xff\xfe\",\"name\":\"a\"}";

  m = kaigi_protocol_parse (KAIGI_CHANNEL_SIGNALING, bad, sizeof bad - 1, NULL, &error);
  g_assert_null (m);
  g_assert_error (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_INVALID_JSON);
}

static JsonObject *
parse_object (const char *json,
              JsonParser *parser)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (json_parser_load_from_data (parser, json, -1, &error));
  g_assert_no_error (error);
  return json_node_get_object (json_parser_get_root (parser));
}

static void
test_build (void)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GPtrArray) ice_servers = g_ptr_array_new ();
  g_autoptr(GDateTime) time = g_date_time_new_utc (2026, 11, 23, 19, 5, 30.25);
  KaigiParticipantInfo others[] = { { "a1", "花子", TRUE, FALSE } };
  KaigiTrackInfo tracks[] = { { "video3", "a1", "video" } };
  char *urls[] = { "stun:stun.example.org:3478", NULL };
  KaigiIceServer stun = { urls, NULL, NULL };
  g_autofree char *joined = NULL, *offer = NULL, *error_json = NULL, *chat = NULL, *left = NULL;
  g_autoptr(GError) error = g_error_new_literal (KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_NOT_JOINED, "join first");
  JsonObject *o;
  JsonArray *a;

  g_ptr_array_add (ice_servers, &stun);
  joined = kaigi_protocol_build_joined ("b2", "会議室", "太郎", others, 1, ice_servers);
  o = parse_object (joined, parser);
  g_assert_cmpstr (json_object_get_string_member (o, "type"), ==, "joined");
  g_assert_cmpint (json_object_get_int_member (o, "version"), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (o, "room"), ==, "会議室");
  a = json_object_get_array_member (o, "participants");
  g_assert_cmpuint (json_array_get_length (a), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (a, 0), "name"), ==, "花子");
  g_assert_false (json_object_get_boolean_member (json_array_get_object_element (a, 0), "video"));
  a = json_object_get_array_member (o, "ice_servers");
  g_assert_cmpstr (json_array_get_string_element (json_object_get_array_member (json_array_get_object_element (a, 0), "urls"), 0),
                   ==, "stun:stun.example.org:3478");

  offer = kaigi_protocol_build_offer ("v=0\r\n", "audio0", "video1", tracks, 1);
  o = parse_object (offer, parser);
  g_assert_cmpstr (json_object_get_string_member (o, "sdp"), ==, "v=0\r\n");
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (o, "publish"), "video"), ==, "video1");
  a = json_object_get_array_member (o, "tracks");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (a, 0), "participant"), ==, "a1");

  error_json = kaigi_protocol_build_error (error, "answer");
  o = parse_object (error_json, parser);
  g_assert_cmpstr (json_object_get_string_member (o, "code"), ==, "not-joined");
  g_assert_cmpstr (json_object_get_string_member (o, "request"), ==, "answer");

  chat = kaigi_protocol_build_chat ("a1", "花子", "やあ \"quoted\"", time);
  o = parse_object (chat, parser);
  g_assert_cmpstr (json_object_get_string_member (o, "text"), ==, "やあ \"quoted\"");
  g_assert_cmpstr (json_object_get_string_member (o, "time"), ==, "2026-11-23T19:05:30.250Z");

  left = kaigi_protocol_build_participant_left ("a1", "timeout");
  o = parse_object (left, parser);
  g_assert_cmpstr (json_object_get_string_member (o, "reason"), ==, "timeout");
}

static void
test_build_server_shutdown (void)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree char *json = kaigi_protocol_build_server_shutdown (30);
  JsonObject *o = parse_object (json, parser);

  g_assert_cmpstr (json_object_get_string_member (o, "type"), ==, "server-shutdown");
  g_assert_cmpint (json_object_get_int_member (o, "grace"), ==, 30);
  g_assert_cmpstr (kaigi_protocol_error_code_to_string (KAIGI_PROTOCOL_ERROR_SHUTTING_DOWN), ==, "shutting-down");
}

static void
test_error_codes (void)
{
  g_assert_cmpstr (kaigi_protocol_error_code_to_string (KAIGI_PROTOCOL_ERROR_TOO_DEEP), ==, "too-deep");
  g_assert_cmpstr (kaigi_protocol_error_code_to_string (KAIGI_PROTOCOL_ERROR_UNKNOWN_MLINE), ==, "unknown-mline");
  g_assert_cmpstr (kaigi_protocol_error_code_to_string (-1), ==, "internal");
  g_assert_cmpstr (kaigi_protocol_error_code_to_string (999), ==, "internal");
}

static void
test_recording_messages (void)
{
  g_autoptr(KaigiMessage) start = parse_ok (KAIGI_CHANNEL_SIGNALING, "{\"type\":\"recording-start\"}");
  g_autoptr(KaigiMessage) stop = parse_ok (KAIGI_CHANNEL_SIGNALING, "{\"type\":\"recording-stop\",\"extra\":1}");
  g_autoptr(KaigiMessage) pin = parse_ok (KAIGI_CHANNEL_SIGNALING, "{\"type\":\"pin\",\"participant\":\"77b0e2d4\"}");
  g_autoptr(KaigiMessage) unpin = parse_ok (KAIGI_CHANNEL_SIGNALING, "{\"type\":\"pin\",\"participant\":null}");
  g_autoptr(GDateTime) started = g_date_time_new_utc (2026, 11, 23, 10, 15, 0.125);
  KaigiRecordingInfo info = { "rec-id", "会議室-20261123-101500.mp4", started };
  g_autofree char *recording = kaigi_protocol_build_recording (&info, NULL);
  g_autofree char *stopped = kaigi_protocol_build_recording (NULL, "disk full");
  g_autofree char *speaker = kaigi_protocol_build_speaker ("a1", NULL);
  g_autofree char *finished = kaigi_protocol_build_recording_finished ("rec-id", "x.mp4", 61230);
  g_autofree char *pin_id = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (start->type, ==, KAIGI_MSG_RECORDING_START);
  g_assert_cmpint (stop->type, ==, KAIGI_MSG_RECORDING_STOP);
  g_assert_cmpint (pin->type, ==, KAIGI_MSG_PIN);
  g_assert_cmpstr (pin->participant, ==, "77b0e2d4");
  g_assert_null (unpin->participant);

  g_assert_cmpstr (recording, ==,
                   "{\"type\":\"recording\",\"recording\":{\"id\":\"rec-id\","
                   "\"file\":\"会議室-20261123-101500.mp4\",\"started\":\"2026-11-23T10:15:00.125Z\"}}");
  g_assert_cmpstr (stopped, ==, "{\"type\":\"recording\",\"recording\":null,\"error\":\"disk full\"}");
  g_assert_cmpstr (speaker, ==, "{\"type\":\"speaker\",\"speaker\":\"a1\",\"pinned\":null}");
  g_assert_cmpstr (finished, ==, "{\"id\":\"rec-id\",\"file\":\"x.mp4\",\"duration_ms\":61230}");

  g_assert_true (kaigi_protocol_parse_pin_request ("{\"participant\":\"b2\"}", strlen ("{\"participant\":\"b2\"}"), &pin_id, &error));
  g_assert_cmpstr (pin_id, ==, "b2");
  g_clear_pointer (&pin_id, g_free);
  g_assert_false (kaigi_protocol_parse_pin_request ("{\"participant\":1}", strlen ("{\"participant\":1}"), &pin_id, &error));
  g_assert_error (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_INVALID_FIELD);
}

static KaigiTimelineEvent *
event (gint64      offset_ms,
       const char *type,
       const char *participant,
       const char *name)
{
  KaigiTimelineEvent *e = g_new0 (KaigiTimelineEvent, 1);

  e->offset_ms = offset_ms;
  e->type = g_strdup (type);
  e->participant = g_strdup (participant);
  e->name = g_strdup (name);
  return e;
}

static void
test_timeline (void)
{
  g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func ((GDestroyNotify) kaigi_timeline_event_free);
  g_autoptr(GDateTime) started = g_date_time_new_utc (2026, 11, 23, 10, 15, 0);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree char *json = NULL;
  g_autofree char *room = NULL;
  g_autofree char *started_text = NULL;
  JsonArray *turns;
  gint64 duration;

  g_ptr_array_add (events, event (10, "join", "a", "Aiko"));
  g_ptr_array_add (events, event (100, "speaker", "a", "Aiko"));
  g_ptr_array_add (events, event (4000, "speaker", "b", "Ben"));
  g_ptr_array_add (events, event (6000, "speaker", NULL, NULL));
  g_ptr_array_add (events, event (7000, "speaker", "a", "Aiko"));
  json = kaigi_protocol_build_timeline ("r", "r.mp4", started, 9000, events);

  g_assert_true (json_parser_load_from_data (parser, json, -1, NULL));
  turns = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)), "speaker_turns");
  /* a 100–4000, b 4000–6000, nobody, a 7000–9000 */
  g_assert_cmpuint (json_array_get_length (turns), ==, 3);
  g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (turns, 1), "end_ms"), ==, 6000);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (turns, 2), "participant"), ==, "a");
  g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (turns, 2), "end_ms"), ==, 9000);

  g_assert_true (kaigi_protocol_parse_timeline_summary (json, strlen (json), &room, &duration, &started_text, NULL));
  g_assert_cmpstr (room, ==, "r");
  g_assert_cmpint (duration, ==, 9000);
  g_assert_cmpstr (started_text, ==, "2026-11-23T10:15:00.000Z");
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/protocol/rejections", test_rejections);
  g_test_add_func ("/protocol/join", test_join);
  g_test_add_func ("/protocol/join-video-codecs", test_join_video_codecs);
  g_test_add_func ("/protocol/other-messages", test_other_messages);
  g_test_add_func ("/protocol/chat-limits", test_chat_limits);
  g_test_add_func ("/protocol/depth", test_depth);
  g_test_add_func ("/protocol/invalid-utf8", test_invalid_utf8);
  g_test_add_func ("/protocol/build", test_build);
  g_test_add_func ("/protocol/build-server-shutdown", test_build_server_shutdown);
  g_test_add_func ("/protocol/error-codes", test_error_codes);
  g_test_add_func ("/protocol/recording-messages", test_recording_messages);
  g_test_add_func ("/protocol/timeline", test_timeline);

  return g_test_run ();
}
