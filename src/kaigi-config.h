/* kaigi-config.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

#include "kaigi-types.h"
#include "kaigi-error.h"

G_BEGIN_DECLS

#define KAIGI_DEFAULT_PORT 8080
#define KAIGI_DEFAULT_IDLE_TIMEOUT_S 15
#define KAIGI_DEFAULT_JITTERBUFFER_LATENCY_MS 40
#define KAIGI_DEFAULT_MAX_PARTICIPANTS 50
#define KAIGI_DEFAULT_RECORDING_WIDTH 1280
#define KAIGI_DEFAULT_RECORDING_HEIGHT 720
#define KAIGI_DEFAULT_RECORDING_FRAMERATE 30
#define KAIGI_DEFAULT_RECORDING_BITRATE_KBPS 2500
#define KAIGI_DEFAULT_SPEAKER_LEAD_MS 1000
#define KAIGI_DEFAULT_SPEAKER_HOLD_MS 2000
#define KAIGI_DEFAULT_SHUTDOWN_GRACE_S 0

/**
 * KaigiRunFlags:
 * @KAIGI_RUN_DEFAULT: serve
 * @KAIGI_RUN_PRINT_VERSION: `--version`: print the version and exit
 * @KAIGI_RUN_PRINT_CONFIG: `--print-config`: print the effective
 *   configuration and exit
 * @KAIGI_RUN_OPEN: `--open`: open the web client in a browser once listening
 *
 * What the command line asks for besides configuration.
 */
typedef enum
{
  KAIGI_RUN_DEFAULT = 0,
  KAIGI_RUN_PRINT_VERSION = 1 << 0,
  KAIGI_RUN_PRINT_CONFIG = 1 << 1,
  KAIGI_RUN_OPEN = 1 << 2,
} KaigiRunFlags;

/**
 * KaigiConfig:
 * @address: (nullable): address to listen on; %NULL for all interfaces
 * @port: TCP port; 0 picks a free one
 * @recordings_dir: folder for recordings
 * @stun_server: (nullable): STUN server, `stun://HOST:PORT`
 * @turn_server: (nullable): TURN server, `turn(s)://USER:PASSWORD@HOST:PORT`
 * @api_token: (nullable): bearer token required by the REST API, WHIP and WHEP
 * @idle_timeout_s: seconds without any signaling message before a
 *   participant is dropped as vanished
 * @jitterbuffer_latency_ms: webrtcbin `latency` (ms): how long a recording's
 *   jitterbuffer waits for a missing packet; forwarded packets never wait,
 *   and a missing one is asked for (NACK) for this long, at least 200 ms
 * @ice_min_port: lowest UDP port for ICE candidates; 0 for any
 * @ice_max_port: highest UDP port for ICE candidates; 0 for any
 * @max_participants: participants per room
 * @recording_width: width of recorded video (pixels)
 * @recording_height: height of recorded video (pixels)
 * @recording_framerate: frame rate of recorded video (frames per second)
 * @recording_bitrate_kbps: H.264 bitrate of recorded video (kbit/s)
 * @recording_encoder: (nullable): H.264 encoder element, `x264enc` or
 *   `openh264enc`; %NULL picks x264enc where present, else openh264enc
 * @speaker_lead_ms: how long (ms) a new speaker must be the loudest
 *   before the active speaker changes
 * @speaker_hold_ms: the least time (ms) an active speaker keeps the main
 *   tile after a change
 * @tls_certificate: (nullable): PEM file with the TLS certificate (and
 *   any intermediates); with @tls_key, the port serves HTTPS and wss://
 * @tls_key: (nullable): PEM file with the private key of @tls_certificate
 * @shutdown_grace_s: seconds connected participants may stay after a
 *   stop is requested (new joins are refused meanwhile); 0 stops at once
 * @config_file: (nullable): the file the values were read from
 * @origins: (element-type utf8 utf8) (nullable): private: where each
 *   value that is not a default came from, see kaigi_config_describe_origin()
 *
 * The server configuration. Precedence: command line, then environment
 * (`KAIGI_GROUP_KEY`), then the configuration file (GKeyFile), then
 * defaults. Plain data; copy it with kaigi_config_copy() to keep it.
 */
struct _KaigiConfig
{
  char *address;
  guint port;
  char *recordings_dir;
  char *stun_server;
  char *turn_server;
  char *api_token;
  guint idle_timeout_s;
  guint jitterbuffer_latency_ms;
  guint ice_min_port;
  guint ice_max_port;
  guint max_participants;
  guint recording_width;
  guint recording_height;
  guint recording_framerate;
  guint recording_bitrate_kbps;
  char *recording_encoder;
  guint speaker_lead_ms;
  guint speaker_hold_ms;
  char *tls_certificate;
  char *tls_key;
  guint shutdown_grace_s;
  char *config_file;
  GHashTable *origins;
};

KaigiConfig *kaigi_config_new            (void);
KaigiConfig *kaigi_config_copy           (const KaigiConfig  *config);
void         kaigi_config_free           (KaigiConfig        *config);
gboolean     kaigi_config_load_key_file  (KaigiConfig        *config,
                                          GKeyFile           *key_file,
                                          const char         *file_name,
                                          GError            **error);
gboolean     kaigi_config_load_file      (KaigiConfig        *config,
                                          const char         *path,
                                          GError            **error);
gboolean     kaigi_config_load_environment (KaigiConfig      *config,
                                          const char * const *envp,
                                          GError            **error);
KaigiConfig *kaigi_config_new_from_args  (char              **argv,
                                          gboolean           *print_version,
                                          GError            **error);
KaigiConfig *kaigi_config_parse_command_line (char          **argv,
                                          const char * const *envp,
                                          KaigiRunFlags      *flags,
                                          GError            **error);
char        *kaigi_config_to_data        (const KaigiConfig  *config);
char        *kaigi_config_describe_origin (const KaigiConfig *config,
                                          const char         *group,
                                          const char         *key);
char        *kaigi_config_env_name       (const char         *group,
                                          const char         *key);
char        *kaigi_config_default_recordings_dir (gboolean    in_flatpak);
GPtrArray   *kaigi_config_get_ice_servers (const KaigiConfig *config);
void         kaigi_ice_server_free       (KaigiIceServer     *server);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (KaigiConfig, kaigi_config_free)

G_END_DECLS
