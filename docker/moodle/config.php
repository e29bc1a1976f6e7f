<?php
// CBSI-Connect: one image serves every academy; the task definition sets each site's values.
// Secrets arrive as environment variables from Secrets Manager (ECS `secrets`), never baked in.

unset($CFG);
global $CFG;
$CFG = new stdClass();

function cbsi_env(string $name): string {
    $value = getenv($name);
    if ($value === false || $value === '') {
        throw new RuntimeException("CBSI-Connect: environment variable {$name} is not set");
    }
    return $value;
}

$CFG->dbtype    = 'pgsql';
$CFG->dblibrary = 'native';
$CFG->dbhost    = cbsi_env('MOODLE_DB_HOST');
$CFG->dbname    = cbsi_env('MOODLE_DB_NAME');
$CFG->dbuser    = cbsi_env('MOODLE_DB_USER');
$CFG->dbpass    = cbsi_env('MOODLE_DB_PASSWORD');
$CFG->prefix    = 'mdl_';
$CFG->dboptions = ['dbport' => (int) cbsi_env('MOODLE_DB_PORT'), 'connecttimeout' => 5];

$CFG->wwwroot   = cbsi_env('MOODLE_WWWROOT');
$CFG->dataroot  = cbsi_env('MOODLE_DATAROOT');
$CFG->admin     = 'admin';
$CFG->directorypermissions = 02770;
$CFG->sslproxy  = true;  // TLS ends at the load balancer
$CFG->siteidentifier = cbsi_env('MOODLE_SITE_IDENTIFIER');

// Upgrades run from the CLI in a maintenance window (runbooks/moodle-upgrade.md); the web
// upgrade screen asks for this key, which only the runbook's operators can read.
$CFG->upgradekey = cbsi_env('MOODLE_UPGRADE_KEY');
$CFG->disableupdateautodeploy = true;

// Sessions in the shared Redis, under this site's own prefix.
$CFG->session_handler_class = '\core\session\redis';
$CFG->session_redis_host = 'tls://' . cbsi_env('MOODLE_REDIS_HOST');
$CFG->session_redis_port = (int) cbsi_env('MOODLE_REDIS_PORT');
$CFG->session_redis_auth = cbsi_env('MOODLE_REDIS_AUTH');
$CFG->session_redis_prefix = cbsi_env('MOODLE_SESSION_PREFIX');
$CFG->session_redis_acquire_lock_timeout = 120;
$CFG->session_redis_lock_expire = 7200;

// Moodle's cache (MUC), declared here instead of in the admin UI, under this site's prefix.
$CFG->alternative_cache_factory_class = 'tool_forcedcache_cache_factory';
$CFG->tool_forcedcache_config_array = [
    'stores' => [
        'redis' => [
            'type' => 'redis',
            'config' => [
                'server' => 'tls://' . cbsi_env('MOODLE_REDIS_HOST') . ':' . cbsi_env('MOODLE_REDIS_PORT'),
                'prefix' => cbsi_env('MOODLE_CACHE_PREFIX'),
                'password' => cbsi_env('MOODLE_REDIS_AUTH'),
                'encryption' => true,
                'serializer' => 1,
                'compressor' => 0,
            ],
        ],
        'local_file' => [
            'type' => 'file',
            'config' => ['path' => '/tmp/muc', 'autocreate' => 1],
        ],
    ],
    'rules' => [
        'application' => [
            ['conditions' => ['canuselocalstore' => true], 'stores' => ['local_file', 'redis']],
            ['stores' => ['redis']],
        ],
        'session' => [['stores' => ['redis']]],
        'request' => [],
    ],
    'definitionoverrides' => [],
];

require_once(__DIR__ . '/lib/setup.php');
