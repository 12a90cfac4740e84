"""Sources cited by the unargmaxable claims (shared by the three claim files of this property)."""
from paper_checks.claims import Source

GRIVAS2022 = Source("Andreas Grivas, Nikolay Bogoychev, Adam Lopez", 2022,
                    "Low-Rank Softmax Can Have Unargmaxable Classes in Theory but Rarely in Practice",
                    "ACL 2022, arXiv 2203.06462, doi 10.18653/v1/2022.acl-long.465")
DEMETER2020 = Source("David Demeter, Gregory Kimmel, Doug Downey", 2020,
                     "Stolen Probability: A Structural Weakness of Neural Language Models",
                     "ACL 2020, arXiv 2005.02433, doi 10.18653/v1/2020.acl-main.198", section="Theorem 1")
SU2022 = Source("Su Jianlin", 2022, "你的语言模型有没有“无法预测的词”？ (Does your language model have "
                "unpredictable words?)", "https://kexue.fm/archives/9046")
EFRON1965 = Source("Bradley Efron", 1965, "The convex hull of a random set of points", "Biometrika 52(3/4), 331-343")
