"""The fleet_controller role's rules (module_utils/_fleet_controller.py): each problem names the variable and the
value. Before, a plain assert checked names and playbooks with one joined message and nothing else."""

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._fleet_controller import jobs_problems
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._problems import Problems


def errors(jobs):
    return jobs_problems(jobs, Problems()).errors


def test_good_jobs_pass():
    jobs = [{"name": "patch", "playbook": "patch.yml", "on_calendar": "Sat *-*-* 02:00", "parallel": 4},
            {"name": "site_daily", "playbook": "site.yml", "on_calendar": "daily", "clinics": ["lakeside"]}]
    assert errors(jobs) == []


def test_each_problem_names_the_job_field_and_the_value():
    found = errors([
        {"name": "no good", "playbook": "../../etc/x.yml", "on_calendar": ""},
        {"name": "patch", "playbook": "patch.yml", "on_calendar": "daily", "parallel": 0, "clinics": ["../other"]},
        {"name": "patch", "playbook": "patch.yml", "on_calendar": "daily", "timout": 60},
        "patch",
    ])
    expected = [
        "fleet_controller_jobs[0].name: 'no good' is not a job name",
        "fleet_controller_jobs[0].playbook: '../../etc/x.yml' is not a playbook",
        "fleet_controller_jobs[0].on_calendar: '' is not a systemd OnCalendar=",
        "fleet_controller_jobs[1].parallel: 0 is not a whole number of at least 1",
        "fleet_controller_jobs[1].clinics[0]: '../other' is not a clinic's directory",
        "fleet_controller_jobs[2]: unknown keys timout (did you mean timeout?)",
        "fleet_controller_jobs[2].name: 'patch' is listed twice",
        "fleet_controller_jobs[3]: must be a job",
    ]
    for start in expected:
        assert [e for e in found if e.startswith(start)], (start, found)
    assert len(found) == 8


def test_not_a_list():
    assert errors({"name": "patch"}) == ["fleet_controller_jobs: must be a list of jobs"]
